// Shared by the retention shaders (retention_parallel, retention_chunk_*, retention_recurrent, retention_decode,
// retention_backward_*).
// Layouts: q, k [N, T, H, dk]; v, o [N, T, H, dv]; state [N, H, dk, dv]; all f32.

// 2^-(5+h) = 1 - gamma_h, exact (ldexp of 1).
float retention_one_minus_gamma(uint head) { return ldexp(1.0, -5 - int(head)); }

// log2(gamma_h), accurate to about an ulp. Not log2(1 - x): the Vulkan spec allows log2 an
// absolute error of 2^-21 near 1, which is over 1e-3 relative here and would be raised to the
// power of the distance between positions. The series of log(1 - x) needs no such care:
// log(1 - x) = -x (1 + x/2 + x^2/3 + ...), and x <= 1/32 makes eight terms more than enough.
float retention_log2_gamma(uint head) {
  float x = retention_one_minus_gamma(head);
  float s = 1.0 / 8.0;
  s = 1.0 / 7.0 + x * s;
  s = 1.0 / 6.0 + x * s;
  s = 1.0 / 5.0 + x * s;
  s = 1.0 / 4.0 + x * s;
  s = 1.0 / 3.0 + x * s;
  s = 1.0 / 2.0 + x * s;
  s = 1.0 + x * s;
  return -x * s * 1.4426950408889634;  // log(1 - x) / log(2)
}

// Flat indices into the per-head layouts.
uint retention_qk_index(uint n, uint t, uint h, uint d, uint T, uint H, uint dk) {
  return ((n * T + t) * H + h) * dk + d;
}
uint retention_vo_index(uint n, uint t, uint h, uint c, uint T, uint H, uint dv) {
  return ((n * T + t) * H + h) * dv + c;
}
