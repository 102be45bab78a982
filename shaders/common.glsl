// Included by every compute shader (after #version 450 and GL_GOOGLE_include_directive).
#extension GL_EXT_control_flow_attributes : enable

float swish(float z) { return z / (1.0 + exp(-z)); }

// swish'(z) = sigmoid(z) (1 + z (1 - sigmoid(z))).
float swish_derivative(float z) {
  const float s = 1.0 / (1.0 + exp(-z));
  return s * (1.0 + z * (1.0 - s));
}

// gamma^n for the retention decay, computed as exp2(n * log2(gamma)) like fla does.
float decay_pow(float log2_gamma, float n) { return exp2(n * log2_gamma); }
