// The rotary angle of pair i at position t, as sin and cos, shared by rotary.comp and the decode
// kernels (retention_decode.glsl, decode_layer.glsl). The including shader declares a push-constant block `pc` with
//   vec2 turns_per_radian;   1 / (2 pi) as hi + lo
//   vec2 ratio_powers[10];   10000^(-2^(k+1) / d) as hi + lo, k = 0..9 (so i < 1024)
// (kernels::rotary_constants fills both).
//
// Why the arithmetic below: plain fp32 (angle = t * inv_freq, then sin/cos) loses about
// t * 2^-24 radians, 0.006 at t = 100000. Only the angle modulo one turn matters, so we
// compute frac(t * inv_freq / 2pi) from exact pieces instead:
//  - c = inv_freq / 2pi is built as a double-float (hi + lo, ~44 bits) from powers of the
//    frequency ratio that the host precomputed in double;
//  - t is cut into 11-bit chunks and c into four <=12-bit pieces, so every chunk * piece
//    product is exact in fp32 and so is its reduction modulo 1;
//  - the reduced products are summed modulo 1 (error a few 2^-25 turns),
//  - sin/cos come from our own polynomials on [-pi/4, pi/4] (GLSL sin/cos only promise
//    2^-11 absolute error in Vulkan).
// Every step that relies on exact rounding is `precise` so the compiler cannot fuse or
// reorder it.
// a = hi + lo with hi holding the top 12 significant bits and lo the rest (Veltkamp).
void split12(float a, out float hi, out float lo) {
  precise float scaled = 4097.0 * a;
  precise float h = scaled - (scaled - a);
  precise float l = a - h;
  hi = h;
  lo = l;
}

// Double-float product (hi + lo) of two double-floats, via Dekker's exact product.
vec2 df_mul(vec2 a, vec2 b) {
  float ah, al, bh, bl;
  split12(a.x, ah, al);
  split12(b.x, bh, bl);
  precise float p = a.x * b.x;
  precise float err = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
  precise float e = err + (a.x * b.y + a.y * b.x);
  precise float hi = p + e;
  precise float lo = e - (hi - p);
  return vec2(hi, lo);
}

// v minus the nearest integer: exact for any float v, result in [-0.5, 0.5].
float wrap_turns(float v) {
  precise float r = v - round(v);
  return r;
}

// sin and cos of 2 pi * turns for turns in [-0.5, 0.5], to about 1e-7 absolute.
vec2 sin_cos_turns(float turns) {
  const float quadrant = round(turns * 4.0);
  precise float r = turns - quadrant * 0.25;  // exact, in [-1/8, 1/8] turn
  const float a = r * 6.28318530717958647;
  const float a2 = a * a;
  const float s = a + a * a2 * (-1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 + a2 * (1.0 / 362880.0))));
  const float c = 1.0 + a2 * (-0.5 + a2 * (1.0 / 24.0 + a2 * (-1.0 / 720.0 + a2 * (1.0 / 40320.0 +
                                                                                 a2 * (-1.0 / 3628800.0)))));
  switch (int(quadrant) & 3) {
    case 0: return vec2(s, c);
    case 1: return vec2(c, -s);
    case 2: return vec2(-s, -c);
    default: return vec2(-c, s);
  }
}

// (sin a, cos a) for a = t * 10000^(-2i/d).
vec2 rotary_sin_cos(int t, uint i) {
  // c = 10000^(-2i/d) / (2 pi) in turns per position, as a double-float.
  vec2 c = pc.turns_per_radian;
  for (uint k = 0; k < 10; ++k)
    if (((i >> k) & 1u) != 0u) c = df_mul(c, pc.ratio_powers[k]);
  float pieces[4];
  split12(c.x, pieces[0], pieces[1]);
  split12(c.y, pieces[2], pieces[3]);

  const uint magnitude = uint(abs(t));
  const float chunks[3] = float[3](float(magnitude & 0x7FFu), float((magnitude >> 11) & 0x7FFu) * 2048.0,
                                   float(magnitude >> 22) * 4194304.0);
  // Smallest terms first; each product has <= 23 significant bits, so it is exact.
  precise float turns = 0.0;
  for (int p = 3; p >= 0; --p)
    for (int q = 0; q < 3; ++q) turns = wrap_turns(turns + wrap_turns(chunks[q] * pieces[p]));
  return sin_cos_turns(t < 0 ? -turns : turns);
}

// The decode kernels' q and k of one (sequence, head), dk values from qk_base of the buffers
// q and k, rotated to `position` into the shared arrays qs and ks; thread `first` of `count`
// threads takes every count-th pair. A macro because GLSL cannot pass buffers or shared arrays.
#define ROTATE_QK_INTO_SHARED(position, qk_base, first, count)                 \
  for (uint i_ = (first); i_ < pc.dk / 2; i_ += (count)) {                     \
    const uint h_ = pc.dk / 2;                                                 \
    const vec2 sc_ = rotary_sin_cos((position), i_);                           \
    const float q0_ = q[(qk_base) + i_], q1_ = q[(qk_base) + i_ + h_];         \
    const float k0_ = k[(qk_base) + i_], k1_ = k[(qk_base) + i_ + h_];         \
    qs[i_] = q0_ * sc_.y - q1_ * sc_.x;                                        \
    qs[i_ + h_] = q1_ * sc_.y + q0_ * sc_.x;                                   \
    ks[i_] = k0_ * sc_.y - k1_ * sc_.x;                                        \
    ks[i_ + h_] = k1_ * sc_.y + k0_ * sc_.x;                                   \
  }
