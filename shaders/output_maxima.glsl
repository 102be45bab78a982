// Optional maxima of what a kernel writes: max |x| of each of its first OUTPUT_MAXIMA outputs
// (0, 1 or 2) folded into consecutive slots from OUTPUT_MAXIMA_SLOT of an i32 buffer, as float
// bits like abs_max.comp (the caller zeroes the slots), so that the scaled tensor-core products
// that read those tensors next need no pass over them of their own (mixed-precision training).
// The includer defines OUTPUT_MAXIMA_BINDING and OUTPUT_MAXIMA_CONSTANT (the first of two free
// specialization constant ids), passes each value it writes to note_output(which, value), and
// calls publish_output_maxima() at the end of main, which every invocation reaches.
layout(constant_id = OUTPUT_MAXIMA_CONSTANT) const uint OUTPUT_MAXIMA = 0;
layout(constant_id = OUTPUT_MAXIMA_CONSTANT + 1) const uint OUTPUT_MAXIMA_SLOT = 0;
layout(std430, set = 0, binding = OUTPUT_MAXIMA_BINDING) buffer OutputMaxima { uint output_maxima[]; };
shared uint workgroup_output_max[2];
// Bits of non-negative floats order like the numbers (and a NaN's exceed infinity's).
uint thread_output_max[2] = uint[2](0u, 0u);

void note_output(uint which, float value) {
  if (which < OUTPUT_MAXIMA) thread_output_max[which] = max(thread_output_max[which], floatBitsToUint(abs(value)));
}

// Through shared memory: at most one global atomic per workgroup and output, and none where the
// slot already holds as much. The slot only grows, so a stale read can only cost an atomic that
// was not needed; skipping them matters where tens of thousands of workgroups (one per row of
// a per-head norm) would otherwise queue on one address (the small config's gated-norm
// backward on the H100: 2.1 ms with an atomic from every workgroup, 1.2 ms with this check).
void publish_output_maxima() {
  if (OUTPUT_MAXIMA == 0) return;
  if (gl_LocalInvocationIndex == 0) workgroup_output_max = uint[2](0u, 0u);
  barrier();
  for (uint i = 0; i < OUTPUT_MAXIMA; ++i) atomicMax(workgroup_output_max[i], thread_output_max[i]);
  barrier();
  if (gl_LocalInvocationIndex == 0)
    for (uint i = 0; i < OUTPUT_MAXIMA; ++i) {
      const uint slot = OUTPUT_MAXIMA_SLOT + i, m = workgroup_output_max[i];
      if (m > output_maxima[slot]) atomicMax(output_maxima[slot], m);
    }
}
