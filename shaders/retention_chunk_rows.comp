#version 450
#extension GL_GOOGLE_include_directive : require
// Chunkwise retention: rows of one chunk from the chunk's own positions plus the state carried
// across the chunk border. The forward output and the three gradients of the backward all have
// this form. r and m are positions in chunk c (first position c0, length L), j_r = r - c0:
//   out_r[x] = sum_{m in chunk, masked} scale gamma^|r-m| (A_r . B_m) Y_m[x]
//            + g(j_r) sum_e A_r[e] St(e, x)
//   MODE 0, dq:      m <= r, A = dO, B = v,  Y = k,  g = scale gamma^(j+1), St(e, x) = fwd[x][e]
//   MODE 1, dk:      m >= r, A = v,  B = dO, Y = q,  g = gamma^(L-j),       St(e, x) = rev[x][e]
//   MODE 2, dv:      m >= r, A = k,  B = q,  Y = dO, g = gamma^(L-j),       St(e, x) = rev[e][x]
//   MODE 3, forward: m <= r, A = q,  B = k,  Y = v,  g = scale gamma^(j+1), St(e, x) = S_c[e][x]
// DA = the width of A and B (contracted), DY = the width of Y and out. fwd and S_c are the
// states before each chunk, rev the reverse states after it (kernels/retention_backward.hpp),
// laid out [block of sequences x heads][chunks of the group][rows][columns].
//
// One workgroup = BM = 8 TY rows of a chunk x BN = 16 RN output columns of one (sequence,
// head): grid (DY / BN, chunks of the group x row tiles, sequences x heads of the block).
// 16 x TY threads (TY = 8, or 4 where the device has under 28 KiB of shared memory: 16 KiB is
// enough then); thread (tx, ty) owns rows ty + TY i (i < 8) and columns tx + 16 j (j < RN). Three
// register-blocked products, every operand staged in shared memory as rows along the
// contraction (vec4 reads; rows padded by one vec4 so the 8 rows that a warp's quarter reads at
// once hit distinct banks):
//   weights  W = the masked, decayed A B^T for a block of 64 positions (8 x 4 per thread,
//            contracting DA in slices of 16), kept in shared memory;
//   inside   out += W Y (Y staged transposed, 16 positions at a time);
//   state    out += (g A) St (both staged, 16 elements of e at a time).
// Each thread does 4 RN multiply-adds per vec4 it reads, instead of about one per read from
// shared memory and one per strided read from memory (the kernel this replaces: 4x slower).
#include "common.glsl"
#include "retention_common.glsl"
#include "matrix_quad.glsl"

layout(local_size_x = 16, local_size_y_id = 3) in;
layout(constant_id = 0) const uint MODE = 0;
layout(constant_id = 1) const uint RN = 4;          // output columns per thread (1 to 8)
layout(constant_id = 2) const bool ALIGNED = false;  // DA % 4 == 0 and DY % 4 == 0: vec4 loads
layout(constant_id = 3) const uint TY = 8;           // thread rows: 8 or 4
const uint TX = 16, NT = TX * TY;
const uint RM = 8;          // rows per thread
const uint BM = TY * RM;    // rows per workgroup
const uint BP = 4 * TX;     // positions per weight block (4 per thread)
const uint BN = TX * RN;    // output columns per workgroup
const uint ES = 16;         // contraction elements staged at a time (32: no faster on the H100)
const uint ESQ = ES / 4 + 1;  // vec4s per staged row, padded
const uint WQ = BP / 4 + 1;   // vec4s per row of the weights, padded
const uint RIGHT_ROWS = BN > BP ? BN : BP;

layout(std430, set = 0, binding = 0) writeonly buffer Out { float o[]; };
layout(std430, set = 0, binding = 1) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer A4 { vec4 a4[]; };
layout(std430, set = 0, binding = 2) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) readonly buffer B4 { vec4 b4[]; };
layout(std430, set = 0, binding = 3) readonly buffer Y { float y[]; };
layout(std430, set = 0, binding = 3) readonly buffer Y4 { vec4 y4[]; };
layout(std430, set = 0, binding = 4) readonly buffer St { float st[]; };
layout(std430, set = 0, binding = 4) readonly buffer St4 { vec4 st4[]; };
layout(push_constant) uniform Push {
  uint T, H, DA, DY;
  uint chunk;        // B, the chunk length
  uint chunks;       // chunks in the sequence
  uint first_chunk;  // the group's first chunk (the states hold the group's chunks)
  uint group_chunks;
  uint first_nh;     // the block's first sequence x head (n * H + h)
  uint row_tiles;    // tiles of BM rows per chunk
  float scale;       // dk^-0.5
} pc;

// q, k, v, dO seen as [N * T * H][width] matrices: row (n * T + t) * H + h.
DEFINE_F32_QUAD(a_quad, a, a4)
DEFINE_F32_QUAD(b_quad, b, b4)
DEFINE_F32_QUAD(y_quad, y, y4)
DEFINE_F32_QUAD(st_quad, st, st4)

// The weights [BM][WQ], the left operand's slice [BM][ESQ] and the right one's [RIGHT_ROWS][ESQ].
const uint W_AT = 0, LEFT_AT = BM * WQ, RIGHT_AT = LEFT_AT + BM * ESQ;
shared vec4 sh[RIGHT_AT + RIGHT_ROWS * ESQ];

const bool LOWER = MODE == 0 || MODE == 3;  // positions up to the row, else from it on
const bool ST_BY_E = MODE >= 2;             // St stored [e][x] (else [x][e])

// Right operand slice, row x (an output column), element kk: scattered from a quad that runs
// along x (the operand lies [contraction][column] in memory).
void put_right_transposed(uint x4, uint kk, vec4 v) {
  [[unroll]] for (uint e = 0; e < 4; ++e) {
    const uint i = (4 * x4 + e) * ESQ * 4 + kk;
    sh[RIGHT_AT + i / 4][i % 4] = v[e];
  }
}

// acc[i][j] += sum over the staged slice of left row (ty + TY i) . right row (tx + TX j), the
// left rows starting at vec4 `left_at` with `left_stride` vec4s per row.
void accumulate(inout float acc[RM][RN], uint left_at, uint left_stride) {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  [[unroll]] for (uint k4 = 0; k4 < ES / 4; ++k4) {
    vec4 l[RM], r[RN];
    [[unroll]] for (uint i = 0; i < RM; ++i) l[i] = sh[left_at + (ty + TY * i) * left_stride + k4];
    [[unroll]] for (uint j = 0; j < RN; ++j) r[j] = sh[RIGHT_AT + (tx + TX * j) * ESQ + k4];
    [[unroll]] for (uint i = 0; i < RM; ++i)
      [[unroll]] for (uint j = 0; j < RN; ++j) acc[i][j] += dot(l[i], r[j]);
  }
}

// The kernel walks a sequence of steps, each staging one slice of operands in shared memory
// and multiplying it: for each block of positions, the slices of the weights' contraction
// (SCORES), then the slices of positions of the inside product (INSIDE); then the slices of
// the state product (STATE). The next step's slice is loaded from memory into registers while
// the current one is multiplied, so the loads' latency hides behind the arithmetic.
const uint SCORES = 0, INSIDE = 1, STATE = 2, DONE = 3;
struct Step {
  uint kind;
  uint mb;  // the block's first position (SCORES, INSIDE), within the chunk
  uint k0;  // the slice's first contracted element (SCORES, STATE) or position in the block (INSIDE)
};

// Uniform over the workgroup, set by main.
uint r0, rows, len, col0, m_begin, m_end, row_of_chunk;
bool has_state;
float log2_gamma;

Step first_step() {
  if (m_begin < m_end) return Step(SCORES, m_begin, 0);
  return Step(has_state ? STATE : DONE, 0, 0);
}

Step next_step(Step s) {
  if (s.kind == SCORES) return s.k0 + ES < pc.DA ? Step(SCORES, s.mb, s.k0 + ES) : Step(INSIDE, s.mb, 0);
  if (s.kind == INSIDE) {
    if (s.k0 + ES < min(BP, m_end - s.mb)) return Step(INSIDE, s.mb, s.k0 + ES);
    if (s.mb + BP < m_end) return Step(SCORES, s.mb + BP, 0);
    return Step(has_state ? STATE : DONE, 0, 0);
  }
  return s.k0 + ES < pc.DA ? Step(STATE, 0, s.k0 + ES) : Step(DONE, 0, 0);
}

const uint LEFT_QUADS = BM * ES / 4 / NT;         // left operand quads per thread and step (2)
const uint SCORE_QUADS = BP * ES / 4 / NT;        // the weights' right operand (2 or 4)
const uint RQ_SLICE = (ES * BN / 4 + NT - 1) / NT;  // the inside and state products' right operand
const uint RIGHT_QUADS = RQ_SLICE > SCORE_QUADS ? RQ_SLICE : SCORE_QUADS;
const uint any_row = 0xffffffffu;  // rows are bounds-checked by the callers of the loaders
vec4 left_next[LEFT_QUADS], right_next[RIGHT_QUADS];

// Loads step s's slices from memory into left_next and right_next, as they lie there.
void fetch(Step s) {
  const uint lid = gl_LocalInvocationIndex;
  if (s.kind == SCORES || s.kind == STATE) {
    [[unroll]] for (uint i = 0; i < LEFT_QUADS; ++i) {
      const uint idx = lid + NT * i, r = idx / (ES / 4), e = s.k0 + 4 * (idx % (ES / 4));
      left_next[i] = r < rows ? a_quad(row_of_chunk + (r0 + r) * pc.H, e, any_row, pc.DA, ALIGNED) : vec4(0.0);
    }
  }
  if (s.kind == SCORES) {
    [[unroll]] for (uint i = 0; i < SCORE_QUADS; ++i) {
      const uint idx = lid + NT * i, m = s.mb + idx / (ES / 4), e = s.k0 + 4 * (idx % (ES / 4));
      right_next[i] = m < m_end ? b_quad(row_of_chunk + m * pc.H, e, any_row, pc.DA, ALIGNED) : vec4(0.0);
    }
  } else if (s.kind == INSIDE) {
    [[unroll]] for (uint i = 0; i < RQ_SLICE; ++i) {
      const uint idx = lid + NT * i, m = s.mb + s.k0 + idx % ES, x4 = idx / ES;
      right_next[i] = idx < ES * BN / 4 && m < m_end
                          ? y_quad(row_of_chunk + m * pc.H, col0 + 4 * x4, any_row, pc.DY, ALIGNED)
                          : vec4(0.0);
    }
  } else if (s.kind == STATE) {
    const uint gc = gl_WorkGroupID.y / pc.row_tiles;
    const uint state_rows = (gl_WorkGroupID.z * pc.group_chunks + gc) * (ST_BY_E ? pc.DA : pc.DY);
    [[unroll]] for (uint i = 0; i < RQ_SLICE; ++i) {
      const uint idx = lid + NT * i;
      if (ST_BY_E) {
        const uint e = s.k0 + idx % ES, x4 = idx / ES;
        right_next[i] = idx < ES * BN / 4 && e < pc.DA
                            ? st_quad(state_rows + e, col0 + 4 * x4, any_row, pc.DY, ALIGNED)
                            : vec4(0.0);
      } else {
        const uint x = idx / (ES / 4), e = s.k0 + 4 * (idx % (ES / 4));
        right_next[i] = idx < BN * ES / 4 && col0 + x < pc.DY
                            ? st_quad(state_rows + col0 + x, e, any_row, pc.DA, ALIGNED)
                            : vec4(0.0);
      }
    }
  }
}

// Stores step s's slices (fetched into left_next, right_next) in shared memory, every operand
// as rows along the contraction; the state's left operand times g(j).
void put(Step s) {
  const uint lid = gl_LocalInvocationIndex;
  if (s.kind == SCORES || s.kind == STATE) {
    [[unroll]] for (uint i = 0; i < LEFT_QUADS; ++i) {
      const uint idx = lid + NT * i, r = idx / (ES / 4), j = r0 + r;
      float g = 1.0;
      if (s.kind == STATE)
        g = LOWER ? pc.scale * decay_pow(log2_gamma, float(j + 1)) : decay_pow(log2_gamma, float(len - j));
      sh[LEFT_AT + r * ESQ + idx % (ES / 4)] = g * left_next[i];
    }
  }
  if (s.kind == SCORES) {
    [[unroll]] for (uint i = 0; i < SCORE_QUADS; ++i) {
      const uint idx = lid + NT * i;
      sh[RIGHT_AT + (idx / (ES / 4)) * ESQ + idx % (ES / 4)] = right_next[i];
    }
  } else if (s.kind == INSIDE || (s.kind == STATE && ST_BY_E)) {
    [[unroll]] for (uint i = 0; i < RQ_SLICE; ++i) {
      const uint idx = lid + NT * i;
      if (idx < ES * BN / 4) put_right_transposed(idx / ES, idx % ES, right_next[i]);
    }
  } else if (s.kind == STATE) {
    [[unroll]] for (uint i = 0; i < RQ_SLICE; ++i) {
      const uint idx = lid + NT * i;
      if (idx < BN * ES / 4) sh[RIGHT_AT + (idx / (ES / 4)) * ESQ + idx % (ES / 4)] = right_next[i];
    }
  }
}

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint gc = gl_WorkGroupID.y / pc.row_tiles, c = pc.first_chunk + gc;
  const uint nh = pc.first_nh + gl_WorkGroupID.z, n = nh / pc.H, h = nh % pc.H;
  const uint c0 = c * pc.chunk;
  r0 = (gl_WorkGroupID.y % pc.row_tiles) * BM;
  len = min(pc.chunk, pc.T - c0);
  if (r0 >= len) return;  // a row tile past a short last chunk (uniform over the workgroup)
  rows = min(BM, len - r0);
  col0 = gl_WorkGroupID.x * BN;
  log2_gamma = retention_log2_gamma(h);
  row_of_chunk = (n * pc.T + c0) * pc.H + h;  // matrix row of the chunk's first position
  m_begin = LOWER ? 0 : r0;
  m_end = LOWER ? r0 + rows : len;
  // The part from outside the chunk comes through the state (none before the first chunk for
  // dq, after the last for dk and dv; the forward's first state is the call's initial state).
  has_state = MODE == 0 ? c > 0 : MODE == 3 ? true : c + 1 < pc.chunks;

  float acc[RM][RN], s[RM][4];
  [[unroll]] for (uint i = 0; i < RM; ++i) {
    [[unroll]] for (uint j = 0; j < RN; ++j) acc[i][j] = 0.0;
    [[unroll]] for (uint j = 0; j < 4; ++j) s[i][j] = 0.0;
  }

  Step step = first_step();
  fetch(step);
  while (step.kind != DONE) {
    if (step.kind == INSIDE && step.k0 == 0) {
      // The block's weights (read by its inside steps; the last block's readers are behind
      // the barriers of this block's SCORES steps).
      [[unroll]] for (uint i = 0; i < RM; ++i) {
        const uint r = ty + TY * i, rr = r0 + r;
        [[unroll]] for (uint j = 0; j < 4; ++j) {
          const uint p = tx + TX * j, m = step.mb + p;
          const bool kept = r < rows && m < m_end && (LOWER ? m <= rr : m >= rr);
          const uint i4 = r * WQ * 4 + p;
          sh[W_AT + i4 / 4][i4 % 4] =
              kept ? pc.scale * decay_pow(log2_gamma, float(LOWER ? rr - m : m - rr)) * s[i][j] : 0.0;
          s[i][j] = 0.0;
        }
      }
    }
    barrier();  // the previous step's slices are consumed
    put(step);
    barrier();
    const Step next = next_step(step);
    if (next.kind != DONE) fetch(next);  // in flight during the multiplies
    if (step.kind == SCORES) {
      [[unroll]] for (uint k4 = 0; k4 < ES / 4; ++k4) {
        vec4 l[RM], r[4];
        [[unroll]] for (uint i = 0; i < RM; ++i) l[i] = sh[LEFT_AT + (ty + TY * i) * ESQ + k4];
        [[unroll]] for (uint j = 0; j < 4; ++j) r[j] = sh[RIGHT_AT + (tx + TX * j) * ESQ + k4];
        [[unroll]] for (uint i = 0; i < RM; ++i)
          [[unroll]] for (uint j = 0; j < 4; ++j) s[i][j] += dot(l[i], r[j]);
      }
    } else if (step.kind == INSIDE) {
      accumulate(acc, W_AT + step.k0 / 4, WQ);
    } else {
      accumulate(acc, LEFT_AT, ESQ);
    }
    step = next;
  }

  [[unroll]] for (uint i = 0; i < RM; ++i) {
    const uint r = ty + TY * i;
    if (r >= rows) continue;
    [[unroll]] for (uint j = 0; j < RN; ++j) {
      const uint x = col0 + tx + TX * j;
      if (x < pc.DY) o[(row_of_chunk + (r0 + r) * pc.H) * pc.DY + x] = acc[i][j];
    }
  }
}
