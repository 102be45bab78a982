// The input side of the decode products (decode_matvec.glsl, decode_layer.glsl): the input
// vector staged once per workgroup in shared memory, normalised there, and the weight rows
// read as 16-byte pieces that are multiplied by the same piece of the staged input.
// The includer defines X_VECS (vec4s of the largest input), SQ_VECS (X_VECS where any input
// is normalised, else 1) and PREFETCH (weight pieces per lane loaded ahead) first, and W_F16
// for f16 weights (uvec4s of 8 halves; else vec4s).
const uint MAX_GROUPS = 64;  // norm groups (heads)

#ifdef W_F16
#define CHUNK 8
#define WVEC uvec4
#else
#define CHUNK 4
#define WVEC vec4
#endif

shared vec4 xs[X_VECS];
shared float sq[SQ_VECS];  // sum of squares of each input vec4
shared float scale[MAX_GROUPS];

// Piece c of a weight row times the same piece of the staged input.
float dot_piece(WVEC w, uint c) {
#ifdef W_F16
  return dot(xs[2 * c], vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y))) +
         dot(xs[2 * c + 1], vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w)));
#else
  return dot(xs[c], w);
#endif
}

// Adds the first PREFETCH pieces of a row (per lane; loaded ahead into pre, and pre_up for
// the up row beside a gate row) to the dot products; c, the lane's first piece, moves past them.
void dot_prefetched(WVEC pre[PREFETCH], WVEC pre_up[PREFETCH], bool with_up, uint pieces, inout uint c,
                    inout float acc, inout float acc_up) {
  [[unroll]] for (uint i = 0; i < PREFETCH; ++i, c += gl_SubgroupSize) {
    if (c < pieces) {
      acc += dot_piece(pre[i], c);
      if (with_up) acc_up += dot_piece(pre_up[i], c);
    }
  }
}

// Input vec4 i as read from memory: x, and the norm weight and gate where the norm uses them.
struct InputVec {
  vec4 x, w, gate;
};

// Norms of the staged input: none, RMSNorm(x) * w over one group, or per group (a head)
// RMSNorm(x) * w * swish(gate) (RetNet's gated head norm).
const uint NORM_NONE = 0, NORM_RMS = 1, NORM_GATED = 2;

// Stages vec4 i before its group's scale is known: x * w (* swish(gate)), and the sum of
// squares of x for the scale.
void stage_vec(uint i, InputVec v, uint norm) {
  if (norm == NORM_NONE) {
    xs[i] = v.x;
    return;
  }
  sq[i] = dot(v.x, v.x);
  vec4 s = v.x * v.w;
  if (norm == NORM_GATED) s *= vec4(swish(v.gate.x), swish(v.gate.y), swish(v.gate.z), swish(v.gate.w));
  xs[i] = s;
}

// After every vec4 of the input is staged: the barrier, then (with a norm) each group's
// scale from its sums of squares, applied in place. `norm` is uniform over the workgroup.
void finish_staging(uint vecs, uint norm, uint group_size, float eps) {
  barrier();
  if (norm == NORM_NONE) return;
  const uint group_vecs = group_size / 4, groups = vecs / group_vecs;
  for (uint g = gl_SubgroupID; g < groups; g += gl_NumSubgroups) {
    float s = 0.0;
    for (uint i = g * group_vecs + gl_SubgroupInvocationID; i < (g + 1) * group_vecs; i += gl_SubgroupSize) s += sq[i];
    s = subgroupAdd(s);
    if (subgroupElect()) scale[g] = inversesqrt(s / float(group_size) + eps);
  }
  barrier();
  for (uint i = gl_LocalInvocationIndex; i < vecs; i += gl_WorkGroupSize.x) xs[i] *= scale[i / group_vecs];
  barrier();
}
