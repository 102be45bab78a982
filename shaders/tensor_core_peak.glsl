// Body of tensor_core_peak_n*.comp: the device's tensor-core ceiling, for the bench. Each
// subgroup multiplies 4 fragments of A by 4 of B into 16 independent accumulators, the shape
// of a 64 x 64 block of matmul_coopmat.glsl, `steps` times. With FROM_SHARED it reloads the
// fragments from shared memory every step as the matmul does (alternating between two halves
// of the tile so that the loads cannot be hoisted out of the loop); without, only the products
// run. The includer defines FRAG_N (16 x FRAG_N x 16 fragments).
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require

#define SCOPE_SUBGROUP 3  // spelled as its value: see matmul_coopmat.glsl
#define LD 24             // halves per staged row: 16 and the matmul's padding of 8

layout(local_size_x = 128) in;
layout(constant_id = 0) const bool FROM_SHARED = false;
layout(push_constant) uniform Push { uint steps; } pc;
layout(std430, set = 0, binding = 0) writeonly buffer Out { float o[]; };

// Two halves of 64 rows of 16 halves each (A's 4 fragments, and B's 64 / FRAG_N), as uvec2s.
shared uvec2 tile[2 * 64 * LD / 4];
shared float stage[4 * 16 * FRAG_N];

#include "coopmat_block.glsl"  // ACC, A_FRAG, B_FRAG and the EACH_* macros

void main() {
  const uint t = gl_LocalInvocationID.x;
  // Small values (multiples of 2^-12 up to 2^-5): the sums stay finite and the products are
  // not all zeros (tensor cores multiplying zeros draw less power and clock higher).
  for (uint i = t; i < tile.length(); i += 128) {
    const float v = float((i * 37u) % 128u) / 4096.0;
    tile[i] = uvec2(packHalf2x16(vec2(v, -v)), packHalf2x16(vec2(0.5 * v, v)));
  }
  barrier();
#define LOAD_A(i) coopMatLoadNV(a_##i, tile, (part * 64 + 16 * i) * LD / 4, LD / 4, false);
#define LOAD_B(j) coopMatLoadNV(b_##j, tile, (part * 64 + FRAG_N * j) * LD / 4, LD / 4, true);
#define DECLARE_A(i) A_FRAG a_##i;
#define DECLARE_B(j) B_FRAG b_##j;
  EACH_ROW(DECLARE_A)
  EACH_COLUMN(DECLARE_B)
  uint part = 0;
  EACH_ROW(LOAD_A)
  EACH_COLUMN(LOAD_B)
#define INIT(i, j) ACC acc_##i##_##j = ACC(0.0);
  EACH_ACC(INIT)
  for (uint s = 0; s < pc.steps; ++s) {
    if (FROM_SHARED) {
      part = s & 1u;
      EACH_ROW(LOAD_A)
      EACH_COLUMN(LOAD_B)
    }
#define MUL_ADD(i, j) acc_##i##_##j = coopMatMulAddNV(a_##i, b_##j, acc_##i##_##j);
    EACH_ACC(MUL_ADD)
  }
#define SUM(i, j) total = total + acc_##i##_##j;
  ACC total = ACC(0.0);
  EACH_ACC(SUM)
  const uint base = gl_SubgroupID * 16 * FRAG_N;
  coopMatStoreNV(total, stage, base, FRAG_N, false);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  // One value per subgroup keeps every product live without a large output.
  if (gl_SubgroupInvocationID == 0) o[gl_WorkGroupID.x * 4 + gl_SubgroupID] = stage[base];
}
