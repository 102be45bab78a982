// Power-of-two scaling of f32 operands rounded to f16 for tensor cores (the tensor-core matmul
// and chunkwise retention in training): an operand is multiplied by 2^scale_exponent(max|x|)
// before the rounding and the f32 result divided by it after (exactly). Gradients (1e-8 and
// less) would otherwise fall below f16's range, and large values overflow it.

// The power of two that brings a maximum (as float bits, from abs_max.comp) into
// (2^14, 2^15]; 0 for zero or non-finite maxima (NaN and inf then pass through as they are).
// The exponent is clamped so that the factors, and the product of two, stay normal f32 numbers.
float scale_exponent(uint bits) {
  const float m = uintBitsToFloat(bits);
  if (!(m > 0.0) || isinf(m) || isnan(m)) return 0.0;
  return clamp(15.0 - ceil(log2(m)), -60.0, 60.0);
}
