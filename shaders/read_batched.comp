#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
// Reads src[first .. first + n) as the decode products read weights: each subgroup takes runs of
// BATCH x subgroup-size 16-byte words (its lanes' loads of a run all issued before any is used),
// runs going round-robin to the subgroups of the grid. For retnet-bench's read bandwidth at a
// given launch shape (workgroups x threads x BATCH): what the persistent decode layer's shape
// can reach. Stores only where the sum equals pc.never, as read_vec4.comp. A last partial run
// (fewer than BATCH x subgroup-size words, at most 64 x 64) is left unread though the host
// counts it: under 0.07% of a 100 MB window.
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BATCH = 4;
layout(std430, set = 0, binding = 0) readonly buffer Src { vec4 src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { vec4 dst[]; };
layout(push_constant) uniform Push { uint n, first; float never; } pc;  // 16-byte words

void main() {
  const uint lane = gl_SubgroupInvocationID, run = BATCH * gl_SubgroupSize;
  const uint subgroups = gl_NumWorkGroups.x * gl_NumSubgroups;
  vec4 sum = vec4(0.0);
  for (uint u = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; u < pc.n / run; u += subgroups) {
    vec4 w[BATCH];
    [[unroll]] for (uint i = 0; i < BATCH; ++i) w[i] = src[pc.first + u * run + i * gl_SubgroupSize + lane];
    [[unroll]] for (uint i = 0; i < BATCH; ++i) sum += w[i];
  }
  if (sum.x == pc.never) dst[gl_GlobalInvocationID.x] = sum;
}
