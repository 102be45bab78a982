#version 450
#extension GL_GOOGLE_include_directive : require
// Retention backward, pass 2: the gradient rows of one tile of TR positions within one chunk,
// for TX output columns. All three gradients have the form (r, m positions in the chunk,
// j_r = r - c0, L the chunk length)
//   out_r[x] = sum_{m in chunk, masked} scale gamma^|r-m| (A_r . B_m) Y_m[x] + g(j_r) sum_e A_r[e] St(x, e)
//   MODE 0, dq: m <= r, A = dO, B = v, Y = k, g = scale gamma^(j+1), St(x, e) = fwd[x][e]
//   MODE 1, dk: m >= r, A = v, B = dO, Y = q, g = gamma^(L-j),       St(x, e) = rev[x][e]
//   MODE 2, dv: m >= r, A = k, B = q,  Y = dO, g = gamma^(L-j),      St(x, e) = rev[e][x]
// DA = width of A and B (the contracted dimension), DY = width of Y and out. fwd/rev are
// the chunk states of pass 1 ([N * H, C, dk, dv]). The masked weights of TM positions at a
// time go through shared memory (computed from rows of A and B staged there, one position per
// thread; TM == WG); each thread accumulates RPT rows of one column.
#include "common.glsl"
#include "retention_common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint MODE = 0;
layout(constant_id = 1) const uint TX = 64;  // 16, 32 or 64 output columns per workgroup
const uint WG = 64;
const uint TR = 16;          // rows per tile
const uint TM = 64;          // positions per weight block
const uint RG = WG / TX;     // row groups
const uint RPT = TR / RG;    // rows per thread

layout(std430, set = 0, binding = 0) writeonly buffer Out { float o[]; };
layout(std430, set = 0, binding = 1) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 2) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 3) readonly buffer Y { float y[]; };
layout(std430, set = 0, binding = 4) readonly buffer St { float st[]; };
layout(push_constant) uniform Push {
  uint T, H, DA, DY;
  uint chunk, chunks, tiles;  // tiles of TR rows per chunk
  float scale;
} pc;

const uint EB = 32;          // contracted elements staged per step
const uint EB_LD = EB + 1;   // padded row: thread tid reads row tid without bank conflicts

shared float w[TR * TM];
shared float a_block[TR * EB_LD];
shared float b_block[TM * EB_LD];

void main() {
  const uint nh = gl_WorkGroupID.z, n = nh / pc.H, h = nh % pc.H;
  const uint c = gl_WorkGroupID.y / pc.tiles, tile = gl_WorkGroupID.y % pc.tiles;
  const uint c0 = c * pc.chunk, len = min(pc.chunk, pc.T - c0);
  const uint r0 = tile * TR;  // within the chunk
  if (r0 >= len) return;      // uniform over the workgroup
  const uint rows = min(TR, len - r0);
  const float log2_gamma = retention_log2_gamma(h);
  const uint tid = gl_LocalInvocationIndex, xl = tid % TX, rg = tid / TX;
  const uint x = gl_WorkGroupID.x * TX + xl;
  const bool column_in = x < pc.DY;
  // Row (n, position, h) of an [N, T, H, width] array, times the width.
  const uint row_base = n * pc.T * pc.H + h;

  float acc[RPT];
  [[unroll]] for (uint i = 0; i < RPT; ++i) acc[i] = 0.0;

  const uint m_begin = MODE == 0 ? 0 : r0;
  const uint m_end = MODE == 0 ? r0 + rows : len;
  for (uint mb = m_begin; mb < m_end; mb += TM) {
    // The weights of rows r0.. against positions mb..: thread tid takes position mb + tid for
    // every row, contracting over e in steps of EB staged in shared memory (rows of A and B
    // read once, coalesced, instead of one strided dot product per weight from memory).
    float dots[TR];
    [[unroll]] for (uint r = 0; r < TR; ++r) dots[r] = 0.0;
    for (uint e0 = 0; e0 < pc.DA; e0 += EB) {
      for (uint idx = tid; idx < TR * EB; idx += WG) {
        const uint r = idx / EB, e = idx % EB;
        a_block[r * EB_LD + e] =
            r < rows && e0 + e < pc.DA ? a[(row_base + (c0 + r0 + r) * pc.H) * pc.DA + e0 + e] : 0.0;
      }
      for (uint idx = tid; idx < TM * EB; idx += WG) {
        const uint mm = idx / EB, e = idx % EB;
        b_block[mm * EB_LD + e] =
            mb + mm < m_end && e0 + e < pc.DA ? b[(row_base + (c0 + mb + mm) * pc.H) * pc.DA + e0 + e] : 0.0;
      }
      barrier();
      for (uint e = 0; e < EB; ++e) {
        const float bv = b_block[tid * EB_LD + e];
        [[unroll]] for (uint r = 0; r < TR; ++r) dots[r] += a_block[r * EB_LD + e] * bv;
      }
      barrier();
    }
    const uint m = mb + tid;
    [[unroll]] for (uint r = 0; r < TR; ++r) {
      const uint rr = r0 + r;
      const bool kept = r < rows && m < m_end && (MODE == 0 ? m <= rr : m >= rr);
      w[r * TM + tid] = kept ? pc.scale * decay_pow(log2_gamma, float(MODE == 0 ? rr - m : m - rr)) * dots[r] : 0.0;
    }
    barrier();
    if (column_in) {
      const uint count = min(TM, m_end - mb);
      for (uint mm = 0; mm < count; ++mm) {
        const float ym = y[(row_base + (c0 + mb + mm) * pc.H) * pc.DY + x];
        [[unroll]] for (uint i = 0; i < RPT; ++i) acc[i] += w[(rg + RG * i) * TM + mm] * ym;
      }
    }
    barrier();
  }

  if (!column_in) return;
  // The part from outside the chunk, through the state (zero before the first chunk for dq,
  // after the last for dk and dv).
  const bool has_state = MODE == 0 ? c > 0 : c + 1 < pc.chunks;
  if (has_state) {
    const uint sbase = (nh * pc.chunks + c) * pc.DA * pc.DY;
    float sums[RPT];
    [[unroll]] for (uint i = 0; i < RPT; ++i) sums[i] = 0.0;
    for (uint e = 0; e < pc.DA; ++e) {
      const float s = st[sbase + (MODE == 2 ? e * pc.DY + x : x * pc.DA + e)];
      [[unroll]] for (uint i = 0; i < RPT; ++i) {
        const uint r = min(rg + RG * i, rows - 1);
        sums[i] += a[(row_base + (c0 + r0 + r) * pc.H) * pc.DA + e] * s;
      }
    }
    [[unroll]] for (uint i = 0; i < RPT; ++i) {
      const uint j = r0 + rg + RG * i;
      const float g = MODE == 0 ? pc.scale * decay_pow(log2_gamma, float(j + 1))
                                : decay_pow(log2_gamma, float(len - j));
      acc[i] += g * sums[i];
    }
  }
  [[unroll]] for (uint i = 0; i < RPT; ++i) {
    const uint r = rg + RG * i;
    if (r < rows) o[(row_base + (c0 + r0 + r) * pc.H) * pc.DY + x] = acc[i];
  }
}
