// workgroup_sum(v) / workgroup_max(v): the sum / maximum of v over a workgroup of WG_SIZE
// threads (a power of two), returned to every thread, by subgroup operations (USE_SUBGROUPS)
// or a shared-memory tree. Each ends with a barrier so the shared scratch can be reused for
// the next row. Included by the row-wise reduction shaders (RMSNorm forward and backward,
// cross-entropy). One macro writes both, so they cannot drift apart.

shared float partial[WG_SIZE];
shared float row_total;

float reduce_add(float a, float b) { return a + b; }

#ifdef USE_SUBGROUPS
// gl_NumSubgroups may exceed the subgroup size (e.g. 32 subgroups of 8 lanes).
#define WORKGROUP_REDUCE(NAME, SUBGROUP_OP, COMBINE, IDENTITY)                                         \
  float NAME(float v) {                                                                                \
    v = SUBGROUP_OP(v);                                                                                \
    if (subgroupElect()) partial[gl_SubgroupID] = v;                                                   \
    barrier();                                                                                         \
    if (gl_SubgroupID == 0) {                                                                          \
      float t = IDENTITY;                                                                              \
      for (uint i = gl_SubgroupInvocationID; i < gl_NumSubgroups; i += gl_SubgroupSize)                \
        t = COMBINE(t, partial[i]);                                                                    \
      t = SUBGROUP_OP(t);                                                                              \
      if (subgroupElect()) row_total = t;                                                              \
    }                                                                                                  \
    barrier();                                                                                         \
    const float total = row_total;                                                                     \
    barrier();                                                                                         \
    return total;                                                                                      \
  }
#else
#define WORKGROUP_REDUCE(NAME, SUBGROUP_OP, COMBINE, IDENTITY)                                         \
  float NAME(float v) {                                                                                \
    const uint lid = gl_LocalInvocationID.x;                                                           \
    partial[lid] = v;                                                                                  \
    barrier();                                                                                         \
    for (uint stride = WG_SIZE / 2; stride > 0; stride >>= 1) {                                        \
      if (lid < stride) partial[lid] = COMBINE(partial[lid], partial[lid + stride]);                   \
      barrier();                                                                                       \
    }                                                                                                  \
    if (lid == 0) row_total = partial[0];                                                              \
    barrier();                                                                                         \
    const float total = row_total;                                                                     \
    barrier();                                                                                         \
    return total;                                                                                      \
  }
#endif

WORKGROUP_REDUCE(workgroup_sum, subgroupAdd, reduce_add, 0.0)
WORKGROUP_REDUCE(workgroup_max, subgroupMax, max, -3.402823466e38)
