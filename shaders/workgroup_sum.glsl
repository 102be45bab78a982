// workgroup_sum(v): the sum of v over a workgroup of WG_SIZE threads (a power of two),
// returned to every thread, by subgroupAdd (USE_SUBGROUPS) or a shared-memory tree.
// Included by the row-wise reduction shaders (RMSNorm forward and backward).

shared float partial[WG_SIZE];
shared float row_total;

// Sum of v over the workgroup, returned to every thread. Ends with a barrier so the shared
// scratch can be reused for the next row.
float workgroup_sum(float v) {
  const uint lid = gl_LocalInvocationID.x;
#ifdef USE_SUBGROUPS
  v = subgroupAdd(v);
  if (subgroupElect()) partial[gl_SubgroupID] = v;
  barrier();
  if (gl_SubgroupID == 0) {
    // gl_NumSubgroups may exceed the subgroup size (e.g. 32 subgroups of 8 lanes).
    float t = 0.0;
    for (uint i = gl_SubgroupInvocationID; i < gl_NumSubgroups; i += gl_SubgroupSize) t += partial[i];
    t = subgroupAdd(t);
    if (subgroupElect()) row_total = t;
  }
  barrier();
#else
  partial[lid] = v;
  barrier();
  for (uint stride = WG_SIZE / 2; stride > 0; stride >>= 1) {
    if (lid < stride) partial[lid] += partial[lid + stride];
    barrier();
  }
  if (lid == 0) row_total = partial[0];
  barrier();
#endif
  const float total = row_total;
  barrier();
  return total;
}
