// Shared body of the embedding gather (embedding.comp: f32 table, embedding_f16.comp: f16
// table read as packed 32-bit words, so no 16-bit storage feature is needed).
//   out[t, j] = table[tokens[t], j]  for t < T, j < D.
// A token id outside [0, V) writes a row of zeros: callers validate ids on the host
// (check_token_ids), this only guarantees the shader never reads out of bounds.
// x strides over j, y over tokens (grid-stride in both, so any T and D fit the group limits).
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) writeonly buffer Out { float out_rows[]; };
layout(std430, set = 0, binding = 1) readonly buffer Tokens { int tokens[]; };
#ifdef TABLE_F16
layout(std430, set = 0, binding = 2) readonly buffer Table { uint table_words[]; };
#else
layout(std430, set = 0, binding = 2) readonly buffer Table { float table[]; };
#endif
layout(push_constant) uniform Push {
  uint tokens_count;  // T
  uint vocab;         // V
  uint dim;           // D
} pc;

float table_value(uint index) {
#ifdef TABLE_F16
  return unpackHalf2x16(table_words[index >> 1])[index & 1u];
#else
  return table[index];
#endif
}

void main() {
  const uint x_stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint t = gl_WorkGroupID.y; t < pc.tokens_count; t += gl_NumWorkGroups.y) {
    const int id = tokens[t];
    const bool valid = id >= 0 && uint(id) < pc.vocab;
    const uint src = valid ? uint(id) * pc.dim : 0u;
    for (uint j = gl_GlobalInvocationID.x; j < pc.dim; j += x_stride)
      out_rows[t * pc.dim + j] = valid ? table_value(src + j) : 0.0;
  }
}
