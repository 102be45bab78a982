// Body of decode_layer_f16/f32.comp: a whole RetNet layer of a one-token decode step in one
// dispatch, the five dispatches of kernels/decode.hpp as five phases of one persistent grid:
//   1  RMSNorm(h) -> q, k, v, g                            (rows of all four products)
//   2  rotary(q, k); S = gamma S + k^T v; o = scale q S     (per head and block of columns)
//   3  gated head norm of o -> o_proj, added into h
//   4  RMSNorm(h) -> ffn = swish(W_gate x) * (W_up x)
//   5  down_proj(ffn), added into h
// Why: at batch 1 a layer of the 1.3b model reads about 100 MB of weights, some 35 us at an
// H100's bandwidth, and each dependent dispatch costs about 4 us before any work, plus the
// ramp and drain of its loads. Here the phases are separated by grid-wide syncs instead, and
// before waiting at one each subgroup issues the loads of its next phase's first weights (or
// its share of the state), which depend on nothing the sync waits for: memory stays busy.
//
// A grid-wide sync needs every workgroup resident at once, which Vulkan does not promise; the
// host launches at most one workgroup per compute unit, and every wait is bounded. A
// workgroup that polls SPIN_LIMIT times in vain, or sees that another one timed out, marks
// sync[0] (1.0 as float bits) and leaves the layer, and so does every later layer of the step.
// A workgroup passes a sync only when all have arrived, so no phase ever runs on stale inputs;
// the host reads sync[0] after the step and redoes it without this kernel.
// Rows of the products go round-robin to the subgroups of the whole grid, one row per
// subgroup at a time, as in decode_matvec.glsl; activations written here and read by other
// workgroups are `coherent` (read from L2, not a stale L1).
// Defines: W_F16 (f16 weights) or f32 weights. The launcher (kernels/decode_layer.cpp)
// guarantees hidden, H*dv and intermediate % CHUNK == 0, dv % 4 == 0 and dk even.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;                 // CQ * RG
layout(constant_id = 1) const uint X_VECS = 1024;  // shared vec4s of the largest input
layout(constant_id = 2) const uint SQ_VECS = 1024;
layout(constant_id = 3) const uint PREFETCH = 8;   // weight pieces per lane loaded at once
layout(constant_id = 4) const uint CQ = 8;         // retention: column quads per workgroup
layout(constant_id = 5) const uint RG = 64;        // retention: row groups (a power of two)
layout(constant_id = 6) const uint DPT = 4;        // retention: state rows per thread
layout(constant_id = 7) const uint SPIN_LIMIT = 1048576;  // polls of a sync before giving up
layout(constant_id = 8) const uint SYNC_SHORTFALL = 0;    // tests: wait for workgroups that never come

layout(push_constant) uniform Push {
  uint D, I, H, dk, dv;   // hidden size, intermediate size, heads, head dims
  uint layer;             // this layer's arrival counter is sync[1 + layer]
  float eps, scale;       // norm epsilon; dk^-0.5
  vec2 turns_per_radian;  // rotary constants (rotary_angle.glsl)
  vec2 ratio_powers[10];
} pc;

#include "decode_input.glsl"
#include "rotary_angle.glsl"

layout(std430, set = 0, binding = 0) coherent buffer Sync { uint sync_words[]; };
layout(std430, set = 0, binding = 1) coherent buffer H { float h[]; };
layout(std430, set = 0, binding = 1) coherent buffer H4 { vec4 h4[]; };
layout(std430, set = 0, binding = 2) coherent buffer Q { float q[]; };
layout(std430, set = 0, binding = 3) coherent buffer K { float k[]; };
layout(std430, set = 0, binding = 4) coherent buffer V { float v[]; };
layout(std430, set = 0, binding = 5) coherent buffer G { float g[]; };
layout(std430, set = 0, binding = 5) coherent buffer G4 { vec4 g4[]; };
layout(std430, set = 0, binding = 6) coherent buffer O { float o[]; };
layout(std430, set = 0, binding = 6) coherent buffer O4 { vec4 o4[]; };
layout(std430, set = 0, binding = 7) coherent buffer Ffn { float ffn[]; };
layout(std430, set = 0, binding = 7) coherent buffer Ffn4 { vec4 ffn4[]; };
// Each element has one owner per step, but the next layer's dispatch may run beside this one.
layout(std430, set = 0, binding = 8) coherent buffer S4 { vec4 state4[]; };
layout(std430, set = 0, binding = 9) readonly buffer Positions { int positions[]; };
layout(std430, set = 0, binding = 10) readonly buffer AttnNorm { vec4 attn_norm4[]; };
layout(std430, set = 0, binding = 11) readonly buffer GNorm { vec4 g_norm4[]; };
layout(std430, set = 0, binding = 12) readonly buffer MlpNorm { vec4 mlp_norm4[]; };
layout(std430, set = 0, binding = 13) readonly buffer Wq { WVEC wq[]; };
layout(std430, set = 0, binding = 14) readonly buffer Wk { WVEC wk[]; };
layout(std430, set = 0, binding = 15) readonly buffer Wv { WVEC wv[]; };
layout(std430, set = 0, binding = 16) readonly buffer Wg { WVEC wg[]; };
layout(std430, set = 0, binding = 17) readonly buffer Wo { WVEC wo[]; };
layout(std430, set = 0, binding = 18) readonly buffer Wgate { WVEC wgate[]; };
layout(std430, set = 0, binding = 19) readonly buffer Wup { WVEC wup[]; };
layout(std430, set = 0, binding = 20) readonly buffer Wdown { WVEC wdown[]; };

const uint WG = CQ * RG;
shared float qs[DPT * RG], ks[DPT * RG];
shared vec4 partial[WG];  // [row group][column quad]
shared bool sync_ok;

// ---- the products (phases 1, 3, 4, 5) ----

// Matrices: 0-3 q, k, v, g; 4 o_proj; 5 gate (6 up, read beside it); 7 down.
WVEC load_w(uint m, uint i) {
  switch (m) {
    case 0: return wq[i];
    case 1: return wk[i];
    case 2: return wv[i];
    case 3: return wg[i];
    case 4: return wo[i];
    case 5: return wgate[i];
    case 6: return wup[i];
    default: return wdown[i];
  }
}

uint phase_k(uint phase) { return phase == 3 ? pc.H * pc.dv : phase == 5 ? pc.I : pc.D; }

uint phase_rows(uint phase) {
  switch (phase) {
    case 1: return 2 * pc.H * (pc.dk + pc.dv);
    case 4: return pc.I;
    default: return pc.D;
  }
}

// Row `row` of a phase's concatenated products: its matrix m and its row r there.
void locate(uint phase, uint row, out uint m, out uint r) {
  r = row;
  if (phase != 1) {
    m = phase == 3 ? 4 : phase == 4 ? 5 : 7;
    return;
  }
  const uint sizes[4] = uint[4](pc.H * pc.dk, pc.H * pc.dk, pc.H * pc.dv, pc.H * pc.dv);
  m = 0;
  while (m < 3 && r >= sizes[m]) r -= sizes[m++];
}

uint grid_subgroup() { return gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; }
uint grid_subgroups() { return gl_NumWorkGroups.x * gl_NumSubgroups; }

// Issues the loads of the first PREFETCH pieces (per lane) of this subgroup's first row of
// `phase` (and of its up row in phase 4).
void prefetch_weights(uint phase, out WVEC pre[PREFETCH], out WVEC pre_up[PREFETCH]) {
  const uint row = grid_subgroup(), pieces = phase_k(phase) / CHUNK;
  if (row >= phase_rows(phase)) return;
  uint m, r;
  locate(phase, row, m, r);
  [[unroll]] for (uint i = 0; i < PREFETCH; ++i) {
    const uint c = gl_SubgroupInvocationID + i * gl_SubgroupSize;
    if (c < pieces) {
      pre[i] = load_w(m, r * pieces + c);
      if (phase == 4) pre_up[i] = wup[r * pieces + c];
    }
  }
}

InputVec load_input(uint phase, uint i) {
  InputVec x;
  if (phase == 3) {
    x.x = o4[i];
    x.w = g_norm4[i % (pc.dv / 4)];  // a vec4 never straddles heads
    x.gate = g4[i];
  } else if (phase == 5) {
    x.x = ffn4[i];
  } else {
    x.x = h4[i];
    x.w = phase == 1 ? attn_norm4[i] : mlp_norm4[i];
  }
  return x;
}

void stage_phase_input(uint phase) {
  const uint vecs = phase_k(phase) / 4;
  const uint norm = phase == 5 ? NORM_NONE : phase == 3 ? NORM_GATED : NORM_RMS;
  for (uint i = gl_LocalInvocationIndex; i < vecs; i += gl_WorkGroupSize.x) stage_vec(i, load_input(phase, i), norm);
  finish_staging(vecs, norm, phase == 3 ? pc.dv : 4 * vecs, pc.eps);
}

void store_row(uint phase, uint m, uint r, float acc, float acc_up) {
  switch (m) {
    case 0: q[r] = acc; break;
    case 1: k[r] = acc; break;
    case 2: v[r] = acc; break;
    case 3: g[r] = acc; break;
    case 5: ffn[r] = swish(acc) * acc_up; break;
    default: h[r] += acc; break;  // o_proj and down_proj add into the residual stream
  }
}

// The products of `phase` with its input staged in xs; `pre` holds the prefetched pieces.
void run_products(uint phase, WVEC pre[PREFETCH], WVEC pre_up[PREFETCH]) {
  const uint lane = gl_SubgroupInvocationID, sg = gl_SubgroupSize, pieces = phase_k(phase) / CHUNK;
  const uint rows = phase_rows(phase), stride = grid_subgroups();
  const bool swiglu = phase == 4;
  bool prefetched = true;
  for (uint row = grid_subgroup(); row < rows; row += stride, prefetched = false) {
    uint m, r;
    locate(phase, row, m, r);
    const uint base = r * pieces;
    float acc = 0.0, acc_up = 0.0;
    uint c = lane;
    if (prefetched) dot_prefetched(pre, pre_up, swiglu, pieces, c, acc, acc_up);
    // The rest in batches of PREFETCH pieces per lane, whose loads are all issued together.
    for (; c < pieces; c += PREFETCH * sg) {
      WVEC w[PREFETCH], u[PREFETCH];
      [[unroll]] for (uint i = 0; i < PREFETCH; ++i) {
        const uint ci = c + i * sg;
        if (ci < pieces) {
          w[i] = load_w(m, base + ci);
          if (swiglu) u[i] = wup[base + ci];
        }
      }
      [[unroll]] for (uint i = 0; i < PREFETCH; ++i) {
        const uint ci = c + i * sg;
        if (ci < pieces) {
          acc += dot_piece(w[i], ci);
          if (swiglu) acc_up += dot_piece(u[i], ci);
        }
      }
    }
    acc = subgroupAdd(acc);
    if (swiglu) acc_up = subgroupAdd(acc_up);
    if (subgroupElect()) store_row(phase, m, r, acc, acc_up);
  }
}

// ---- retention (phase 2): as retention_decode.glsl, one (head, column block) per unit ----

#include "retention_row_groups.glsl"  // sum_row_groups (reads partial, declared above)

uint column_blocks() { return (pc.dv / 4 + CQ - 1) / CQ; }
uint retention_units() { return pc.H * column_blocks(); }

// This thread's state vec4s of `unit`: rows rg + RG i of its 4 columns.
void load_state(uint unit, out vec4 s[DPT]) {
  const uint t = gl_LocalInvocationIndex, cq = t % CQ, rg = t / CQ;
  const uint head = unit / column_blocks(), c0 = 4 * ((unit % column_blocks()) * CQ + cq);
  [[unroll]] for (uint i = 0; i < DPT; ++i) {
    const uint d = rg + RG * i;
    s[i] = vec4(0.0);
    if (d < pc.dk && c0 < pc.dv) s[i] = state4[(head * pc.dk * pc.dv + d * pc.dv + c0) / 4];
  }
}

void retention_unit(uint unit, vec4 s[DPT]) {
  const uint t = gl_LocalInvocationIndex, cq = t % CQ, rg = t / CQ;
  const uint head = unit / column_blocks(), c0 = 4 * ((unit % column_blocks()) * CQ + cq);
  const uint qk_base = head * pc.dk, v_base = head * pc.dv;
  const float x = retention_one_minus_gamma(head);
  vec4 vt = vec4(0.0);
  if (c0 < pc.dv) vt = vec4(v[v_base + c0], v[v_base + c0 + 1], v[v_base + c0 + 2], v[v_base + c0 + 3]);
  ROTATE_QK_INTO_SHARED(positions[0], qk_base, t, WG);
  barrier();
  vec4 p = vec4(0.0);
  [[unroll]] for (uint i = 0; i < DPT; ++i) {
    const uint d = rg + RG * i;
    if (d < pc.dk && c0 < pc.dv) {
      s[i] = (s[i] - x * s[i]) + ks[d] * vt;  // gamma S = S - (1 - gamma) S, as retention_recurrent
      state4[(head * pc.dk * pc.dv + d * pc.dv + c0) / 4] = s[i];
      p += qs[d] * s[i];
    }
  }
  sum_row_groups(p, t, rg);
  if (rg == 0 && c0 < pc.dv) o4[(v_base + c0) / 4] = pc.scale * partial[cq];
}

// ---- grid-wide sync ----

// Waits until sync word `slot` holds `target` arrivals; false if the wait timed out (or
// another workgroup's did while this one waited: sync[0] is marked, checked every 64 polls).
bool wait_for(uint slot, uint target) {
  if (gl_LocalInvocationIndex == 0) {
    bool ok = true;
    for (uint polls = 0; atomicAdd(sync_words[slot], 0u) < target; ++polls) {
      if (polls >= SPIN_LIMIT || (polls % 64 == 63 && atomicAdd(sync_words[0], 0u) != 0u)) {
        ok = false;
        break;
      }
    }
    if (!ok) atomicMax(sync_words[0], floatBitsToUint(1.0));
    memoryBarrierBuffer();
    sync_ok = ok;
  }
  barrier();
  return sync_ok;
}

// Waits until every workgroup has arrived here (the k-th sync of the layer); false if the
// wait timed out. The caller has fenced its writes (memoryBarrierBuffer) before its prefetch.
bool grid_sync(uint k) {
  barrier();
  if (gl_LocalInvocationIndex == 0) atomicAdd(sync_words[1 + pc.layer], 1u);
  return wait_for(1 + pc.layer, k * gl_NumWorkGroups.x + SYNC_SHORTFALL);
}

// The host records no barrier between the layers' dispatches (kernels/decode_layer.cpp), so
// that a layer's workgroups start (and issue their first loads) while the previous layer's
// last ones finish: each waits here until every workgroup of the previous layer has arrived
// at its end (its 4 syncs and `finish_layer`), whose writes it then sees. The previous
// layer's workgroups are expected to have been launched, and so to be resident, before this
// one's take their places; where a driver does otherwise, the wait times out like any sync.
bool previous_layer_done() {
  if (pc.layer != 0) return wait_for(pc.layer, 5 * gl_NumWorkGroups.x);
  if (gl_LocalInvocationIndex == 0) sync_ok = atomicAdd(sync_words[0], 0u) == 0u;
  barrier();
  return sync_ok;
}

void finish_layer() {
  memoryBarrierBuffer();
  barrier();
  if (gl_LocalInvocationIndex == 0) atomicAdd(sync_words[1 + pc.layer], 1u);
}

void main() {
  WVEC pre[PREFETCH], pre_up[PREFETCH];
  prefetch_weights(1, pre, pre_up);
  if (!previous_layer_done()) return;  // or an earlier layer of this step gave up
  stage_phase_input(1);
  run_products(1, pre, pre_up);

  memoryBarrierBuffer();
  vec4 s[DPT];
  const uint units = retention_units();
  if (gl_WorkGroupID.x < units) load_state(gl_WorkGroupID.x, s);
  if (!grid_sync(1)) return;
  for (uint unit = gl_WorkGroupID.x; unit < units; unit += gl_NumWorkGroups.x) {
    if (unit != gl_WorkGroupID.x) load_state(unit, s);
    retention_unit(unit, s);
  }

  memoryBarrierBuffer();
  prefetch_weights(3, pre, pre_up);
  if (!grid_sync(2)) return;
  stage_phase_input(3);
  run_products(3, pre, pre_up);

  memoryBarrierBuffer();
  prefetch_weights(4, pre, pre_up);
  if (!grid_sync(3)) return;
  stage_phase_input(4);
  run_products(4, pre, pre_up);

  memoryBarrierBuffer();
  prefetch_weights(5, pre, pre_up);
  if (!grid_sync(4)) return;
  stage_phase_input(5);
  run_products(5, pre, pre_up);
  finish_layer();
}
