// DEFINE_F32_QUAD(NAME, BUF, BUF4) defines vec4 NAME(row, col, rows, cols, aligned): elements
// col .. col + 3 of row `row` of the row-major rows x cols f32 matrix in BUF (the same binding
// seen as vec4s in BUF4), zero outside the matrix; `aligned` (cols % 4 == 0) makes it one
// vec4 load. A macro because GLSL functions cannot take a buffer: matmul_interface.glsl
// defines x's and w's loaders with it (the tiled kernels use them for either layout), and so
// do the tensor-core matmul (its f32 operands) and retention_chunk_rows.
#define DEFINE_F32_QUAD(NAME, BUF, BUF4)                                     \
  vec4 NAME(uint row, uint col, uint rows, uint cols, bool aligned) {        \
    vec4 v = vec4(0.0);                                                      \
    if (row >= rows) return v;                                               \
    if (aligned) return col < cols ? BUF4[(row * cols + col) / 4] : v;       \
    [[unroll]] for (uint e = 0; e < 4; ++e)                                  \
      if (col + e < cols) v[e] = BUF[row * cols + col + e];                  \
    return v;                                                                \
  }
