#version 450
#extension GL_GOOGLE_include_directive : require
// retention_chunk_rows on tensor cores (training in mixed precision): the same four row
// computations of a chunk, in the same notation (see retention_chunk_rows.comp):
//   out_r[x] = sum_{m in chunk, masked} scale gamma^|r-m| (A_r . B_m) Y_m[x]
//            + g(j_r) sum_e A_r[e] St(e, x)
//   MODE 0 dq, 1 dk, 2 dv, 3 forward (masks, g and St as there).
// One workgroup of 4 subgroups = one chunk of 64 positions of one (sequence, head); subgroup
// sg owns the chunk's rows [16 sg, 16 sg + 16). Grid (chunks of the group, sequences x heads
// of the block).
//   weights  W = A B^T over slices of 32 of the contraction staged in shared memory; a
//            subgroup multiplies only the 16-position blocks its mask reaches (at or below its
//            rows for MODE 0 and 3, at or above for 1 and 2); then masked and decayed in f32;
//   inside   out += W Y, Y staged 32 output columns at a time;
//   state    out += (g A) St, both staged in slices of 32 of the contraction.
// Every operand is rounded to f16 for the products and summed in f32. Each is first scaled by
// a power of two (f16_scaling.glsl): A, B, Y and St from their tensors' maxima (binding 5,
// slots in pc.slots), W from its subgroup's own maximum, so that neither gradients of 1e-8
// nor large states leave f16's range; the factors are undone exactly on the f32 sums. The
// launcher (kernels/retention_chunk_passes.cpp) guarantees subgroups of 32, 16 x 16 x 16
// fragments, chunks of 64 and DA, DY multiples of 32.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "retention_common.glsl"
#include "f16_scaling.glsl"

#define SCOPE_SUBGROUP 3  // gl_ScopeSubgroup, spelled as its value (see matmul_coopmat.glsl)
#define B 64              // chunk length
#define DS 32             // contraction elements (and output columns) staged at a time
#define LDS (DS + 8)      // staged row stride in halves: 16-byte aligned, spread over banks
#define LDS4 (LDS / 4)    // ... in uvec2s of 4 halves, the unit of the tiles
#define LDW (B + 8)       // row stride of the decayed weights
#define LDW4 (LDW / 4)
#define THREADS 128

layout(local_size_x = THREADS) in;
layout(constant_id = 0) const uint MODE = 0;

layout(std430, set = 0, binding = 0) writeonly buffer Out { float o[]; };
layout(std430, set = 0, binding = 1) readonly buffer A { vec4 a4[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bm { vec4 b4[]; };
layout(std430, set = 0, binding = 3) readonly buffer Y { vec4 y4[]; };
layout(std430, set = 0, binding = 4) readonly buffer St { vec4 st4[]; };
layout(std430, set = 0, binding = 5) readonly buffer Maxima { uint maxima[]; };
layout(push_constant) uniform Push {
  uint T, H, DA, DY;
  uint chunks;        // chunks in the sequence
  uint first_chunk;   // the group's first chunk (the states hold the group's chunks)
  uint group_chunks;
  uint first_nh;      // the block's first sequence x head (n * H + h)
  uint slots;         // maxima slots of A, B, Y and St, one byte each from the lowest
  float scale;        // dk^-0.5
} pc;

const bool LOWER = MODE == 0 || MODE == 3;  // positions up to the row, else from it on
const bool ST_BY_E = MODE >= 2;             // St stored [e][x] (else [x][e])
const uint OP_A = 0, OP_B = 1, OP_Y = 2, OP_ST = 3;

// Three [B][LDS] f16 tiles: the A and B slices of the weights; then the slices of g A and St
// and the Y tile.
shared uvec2 tiles[3 * B * LDS4];
// Per subgroup: its 16 x 64 f32 weights (and edge output tiles), and the decayed f16 weights.
shared float staged[4 * 16 * B];
shared uvec2 decayed[4 * 16 * LDW4];

#define ACC fcoopmatNV<32, SCOPE_SUBGROUP, 16, 16>
#define FRAG fcoopmatNV<16, SCOPE_SUBGROUP, 16, 16>
#define EACH_BLOCK(F) F(0) F(1) F(2) F(3)
// The 16-position block j of the chunk meets subgroup sg's rows under the mask.
#define NEEDED(j) (LOWER ? (j) <= sg : (j) >= sg)

vec4 load_quad(uint op, uint at) {
  switch (op) {
    case OP_A: return a4[at];
    case OP_B: return b4[at];
    case OP_Y: return y4[at];
    default: return st4[at];
  }
}

// Chunk state: uniform over the workgroup, set by main.
uint row_of_chunk, len, state_row0, w_steps, e_steps;
bool has_state;
float log2_gamma;
float factor[4];  // the power of two of each operand

// The work is a sequence of steps, each staging up to three tiles and multiplying them, the
// next step's tiles loaded into registers while the current one is multiplied (one trip to
// memory per step, hidden behind the products):
//   steps [0, w_steps): the A and B slices e0 = DS step of the weights (tiles 0 and 1);
//   then per block of DS output columns x0, e_steps steps: the g A slice e0 (tile 0) and the
//   St slice (e0, x0) (tile 1) when there is a state, and with the first one the Y block
//   (tile 2).
const uint QUADS = B * DS / 4 / THREADS;  // quads per thread of a B x DS tile (DS x DS: half)
vec4 next0[QUADS], next1[QUADS], next2[QUADS];
#define TILE0 0u
#define TILE1 (B * LDS4)
#define TILE2 (2u * B * LDS4)

// The tile of `rows` x DS at memory rows row0 + i * step, columns c0, of operand `op` (a
// matrix of `width` columns) into regs; rows from `valid` on are zeros.
#define FETCH(regs, op, rows, valid, row0, step, width, c0)                                   \
  [[unroll]] for (uint i = 0; i < QUADS * (rows) / B; ++i) {                                  \
    const uint idx = gl_LocalInvocationIndex + i * THREADS, r = idx / (DS / 4), c = idx % (DS / 4); \
    regs[i] = r < (valid) ? load_quad(op, (((row0) + r * (step)) * (width) + (c0)) / 4 + c) : vec4(0.0); \
  }

// regs of operand `op` into the tile at `base` as f16, times its factor (and g of the row).
void put(vec4 regs[QUADS], uint rows, uint op, uint base, bool g) {
  for (uint i = 0; i < QUADS * rows / B; ++i) {
    const uint idx = gl_LocalInvocationIndex + i * THREADS, r = idx / (DS / 4), c = idx % (DS / 4);
    vec4 x = regs[i] * factor[op];
    if (g) x *= LOWER ? pc.scale * decay_pow(log2_gamma, float(r + 1)) : decay_pow(log2_gamma, float(len - r));
    tiles[base + r * LDS4 + c] = uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw));
  }
}

// Step `s`: which column block and slice, and whether it is the block's first.
void locate_step(uint s, out uint x0, out uint e0) {
  if (s < w_steps) {
    x0 = 0;
    e0 = s * DS;
  } else {
    x0 = (s - w_steps) / e_steps * DS;
    e0 = (s - w_steps) % e_steps * DS;
  }
}

void fetch(uint s) {
  uint x0, e0;
  locate_step(s, x0, e0);
  if (s < w_steps) {
    FETCH(next0, OP_A, B, len, row_of_chunk, pc.H, pc.DA, e0)
    FETCH(next1, OP_B, B, len, row_of_chunk, pc.H, pc.DA, e0)
    return;
  }
  if (e0 == 0) FETCH(next2, OP_Y, B, len, row_of_chunk, pc.H, pc.DY, x0)
  if (!has_state) return;
  FETCH(next0, OP_A, B, len, row_of_chunk, pc.H, pc.DA, e0)
  // St's slice: [e][x] rows e of DY columns, or [x][e] rows x of DA columns.
  if (ST_BY_E)
    FETCH(next1, OP_ST, DS, DS, state_row0 + e0, 1, pc.DY, x0)
  else
    FETCH(next1, OP_ST, DS, DS, state_row0 + x0, 1, pc.DA, e0)
}

void put_step(uint s) {
  uint x0, e0;
  locate_step(s, x0, e0);
  if (s < w_steps) {
    put(next0, B, OP_A, TILE0, false);
    put(next1, B, OP_B, TILE1, false);
    return;
  }
  if (e0 == 0) put(next2, B, OP_Y, TILE2, false);
  if (!has_state) return;
  put(next0, B, OP_A, TILE0, true);
  put(next1, DS, OP_ST, TILE1, false);
}

void main() {
  const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const uint gc = gl_WorkGroupID.x, c = pc.first_chunk + gc;
  const uint nh = pc.first_nh + gl_WorkGroupID.y, n = nh / pc.H, h = nh % pc.H;
  const uint c0 = c * B;
  len = min(B, pc.T - c0);
  row_of_chunk = (n * pc.T + c0) * pc.H + h;  // matrix row of the chunk's first position
  log2_gamma = retention_log2_gamma(h);
  // The part from outside the chunk comes through the state (none before the first chunk for
  // dq, after the last for dk and dv; the forward's first state is the call's initial state).
  has_state = MODE == 0 ? c > 0 : MODE == 3 ? true : c + 1 < pc.chunks;
  state_row0 = (gl_WorkGroupID.y * pc.group_chunks + gc) * (ST_BY_E ? pc.DA : pc.DY);
  const float a_exp = scale_exponent(maxima[pc.slots & 0xffu]);
  const float b_exp = scale_exponent(maxima[(pc.slots >> 8) & 0xffu]);
  const float y_exp = scale_exponent(maxima[(pc.slots >> 16) & 0xffu]);
  const float st_exp = scale_exponent(maxima[pc.slots >> 24]);
  factor[OP_A] = exp2(a_exp);
  factor[OP_B] = exp2(b_exp);
  factor[OP_Y] = exp2(y_exp);
  factor[OP_ST] = exp2(st_exp);
  w_steps = pc.DA / DS;
  e_steps = has_state ? pc.DA / DS : 1;

  // Weights of this subgroup's rows against the blocks of positions its mask reaches.
  uint s = 0;
  fetch(0);
#define INIT_W(j) ACC w_##j = ACC(0.0);
  EACH_BLOCK(INIT_W)
  for (; s < w_steps; ++s) {
    put_step(s);
    barrier();
    fetch(s + 1);  // there is always a next step: the first column block's
    [[unroll]] for (uint kk = 0; kk < DS; kk += 16) {
      FRAG a;
      coopMatLoadNV(a, tiles, TILE0 + (16 * sg * LDS + kk) / 4, LDS4, false);
      // B^T: column m of it is row m of the B slice, so it loads column-major.
#define WEIGHTS(j)                                                          \
  if (NEEDED(j)) {                                                          \
    FRAG b;                                                                 \
    coopMatLoadNV(b, tiles, TILE1 + (16 * (j) * LDS + kk) / 4, LDS4, true); \
    w_##j = coopMatMulAddNV(a, b, w_##j);                                   \
  }
      EACH_BLOCK(WEIGHTS)
    }
    barrier();  // the next step overwrites the tiles
  }

  // Mask and decay in f32 through this subgroup's staging area, then scale by a power of two
  // from the subgroup's largest weight and round to f16.
  const uint s_base = sg * 16 * B, d_base = sg * 16 * LDW4;
#define STAGE_W(j) \
  if (NEEDED(j)) coopMatStoreNV(w_##j, staged, s_base + 16 * (j), B, false);
  EACH_BLOCK(STAGE_W)
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  const float unscale_ab = pc.scale * exp2(-a_exp - b_exp);
  float largest = 0.0;
  for (uint e = lane; e < 16 * B; e += gl_SubgroupSize) {
    const uint row = 16 * sg + e / B, m = e % B;
    // Blocks the mask does not reach were never stored: the mask keeps none of them.
    const bool kept = (LOWER ? m <= row : m >= row) && m < len && row < len;
    const float w =
        kept ? staged[s_base + e] * unscale_ab * decay_pow(log2_gamma, float(LOWER ? row - m : m - row)) : 0.0;
    staged[s_base + e] = w;
    largest = max(largest, abs(w));
  }
  const float w_exp = scale_exponent(floatBitsToUint(subgroupMax(largest)));
  const float w_scale = exp2(w_exp);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  for (uint e = lane; e < 16 * B / 4; e += gl_SubgroupSize) {
    const uint i = e / (B / 4), m4 = e % (B / 4);
    const vec4 x = vec4(staged[s_base + i * B + 4 * m4], staged[s_base + i * B + 4 * m4 + 1],
                        staged[s_base + i * B + 4 * m4 + 2], staged[s_base + i * B + 4 * m4 + 3]) *
                   w_scale;
    decayed[d_base + i * LDW4 + m4] = uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw));
  }
  subgroupMemoryBarrierShared();
  subgroupBarrier();
#define LOAD_W(j) \
  FRAG p_##j;     \
  if (NEEDED(j)) coopMatLoadNV(p_##j, decayed, d_base + 4 * (j), LDW4, false);
  EACH_BLOCK(LOAD_W)

  // out = W Y + (g A) St, DS output columns at a time.
  const float unscale_inside = exp2(-w_exp - y_exp), unscale_state = exp2(-a_exp - st_exp);
  const uint row0 = row_of_chunk + 16 * sg * pc.H;  // memory row of the subgroup's first row
  const uint last = w_steps + pc.DY / DS * e_steps;
  for (uint x0 = 0; x0 < pc.DY; x0 += DS) {
    ACC o_0 = ACC(0.0), o_1 = ACC(0.0), t_0 = ACC(0.0), t_1 = ACC(0.0);
    for (uint e = 0; e < e_steps; ++e, ++s) {
      put_step(s);
      barrier();
      if (s + 1 < last) fetch(s + 1);
      if (e == 0) {
        // Block (position block kb, column block j) of the Y tile, row-major.
#define INSIDE(kb)                                                                       \
  if (NEEDED(kb)) {                                                                      \
    FRAG y_0, y_1;                                                                       \
    coopMatLoadNV(y_0, tiles, TILE2 + (16 * (kb) * LDS) / 4, LDS4, false);               \
    coopMatLoadNV(y_1, tiles, TILE2 + (16 * (kb) * LDS + 16) / 4, LDS4, false);          \
    o_0 = coopMatMulAddNV(p_##kb, y_0, o_0);                                             \
    o_1 = coopMatMulAddNV(p_##kb, y_1, o_1);                                             \
  }
        EACH_BLOCK(INSIDE)
      }
      if (has_state) {
        [[unroll]] for (uint kk = 0; kk < DS; kk += 16) {
          FRAG a, s_0, s_1;
          coopMatLoadNV(a, tiles, TILE0 + (16 * sg * LDS + kk) / 4, LDS4, false);
          if (ST_BY_E) {
            coopMatLoadNV(s_0, tiles, TILE1 + (kk * LDS) / 4, LDS4, false);
            coopMatLoadNV(s_1, tiles, TILE1 + (kk * LDS + 16) / 4, LDS4, false);
          } else {  // columns x of St(e, x) are rows of the slice: column-major
            coopMatLoadNV(s_0, tiles, TILE1 + kk / 4, LDS4, true);
            coopMatLoadNV(s_1, tiles, TILE1 + (16 * LDS + kk) / 4, LDS4, true);
          }
          t_0 = coopMatMulAddNV(a, s_0, t_0);
          t_1 = coopMatMulAddNV(a, s_1, t_1);
        }
      }
      barrier();  // the next step overwrites the tiles
    }
    o_0 = o_0 * unscale_inside + t_0 * unscale_state;
    o_1 = o_1 * unscale_inside + t_1 * unscale_state;
    if (len == B) {
      coopMatStoreNV(o_0, o, row0 * pc.DY + x0, pc.H * pc.DY, false);
      coopMatStoreNV(o_1, o, row0 * pc.DY + x0 + 16, pc.H * pc.DY, false);
    } else {  // the last chunk of a sequence: only its rows before T
      coopMatStoreNV(o_0, staged, s_base, DS, false);
      coopMatStoreNV(o_1, staged, s_base + 16, DS, false);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      for (uint e = lane; e < 16 * DS; e += gl_SubgroupSize) {
        const uint i = e / DS;
        if (16 * sg + i < len) o[(row0 + i * pc.H) * pc.DY + x0 + e % DS] = staged[s_base + e];
      }
      subgroupBarrier();  // the staging area is rewritten by the next column block
    }
  }
}
