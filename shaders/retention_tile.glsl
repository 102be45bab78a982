// The register-blocked tile product of retention_chunk_states (U = K^T (decayed V)): one workgroup
// computes a BM x BN tile of A^T B, where A is [contraction][BM rows] and B is
// [contraction][BN columns]. The contraction is walked in slices of KS; the shader stages
// each slice of A and B into shared memory (a_tile_put, b_tile_put; zeros beyond the
// matrix), then tile_accumulate adds the slice's product into the thread's registers.
//
// Threads TX x TY; thread (tx, ty) owns RM consecutive rows ty * RM + i and the 4 columns
// tx + TX * c (c < 4), one vec4 of accumulators per row. Columns are strided by TX so that
// the threads of a warp write consecutive addresses of each output row (the results go to
// global memory as coalesced runs, not 4 partial sectors per store). Per contraction step a
// thread reads RM / 4 vec4 of A and 4 floats of B from shared memory for 4 * RM FMAs:
//  - B: a warp's TX column-threads read TX consecutive floats (distinct banks; the other
//    rows of threads read the same ones, a broadcast): one shared-memory cycle per read;
//  - A: the warp's threads share 32 / TX values of ty, so its A reads are broadcasts of
//    2 vec4 (TX = 16): one cycle per read.
// With RM = 8 a warp spends 6 shared-memory cycles per 32 FMA instructions (8 cycles of an
// SM's 4 x 32 FP32 lanes); retention_chunk_states uses RM = 4 all the same (5 cycles per 16
// FMA instructions), since its workgroups each walk every chunk in turn and twice as many of
// them keep more of the GPU busy (kernels/retention_chunk_passes.cpp).
// Rows of A are padded by 4 floats, which spreads stores of A transposed over the banks;
// vec4 reads stay aligned.

layout(local_size_x_id = 0, local_size_y_id = 1) in;  // TX x TY threads
layout(constant_id = 2) const uint RM = 8;            // rows per thread, a multiple of 4
const uint TX = gl_WorkGroupSize.x, TY = gl_WorkGroupSize.y, NT = TX * TY;
const uint BM = TY * RM, BN = TX * 4;
const uint KS = 16;       // contraction slice staged at a time
const uint BMP = BM + 4;  // padded row length of a_tile

shared vec4 a_tile[KS * BMP / 4];  // [KS][BMP]
shared float b_tile[KS * BN];      // [KS][BN]

void a_tile_put(uint kk, uint row, float x) {
  const uint i = kk * BMP + row;
  a_tile[i / 4][i % 4] = x;
}
void b_tile_put(uint kk, uint col, float x) { b_tile[kk * BN + col] = x; }

void tile_clear(out vec4 acc[RM]) {
  [[unroll]] for (uint i = 0; i < RM; ++i) acc[i] = vec4(0.0);
}

// acc[i] += sum over the staged slice of A[kk][tile_row(i)] * B[kk][tile_col(0 .. 3)].
// Call between the barrier after staging and the barrier before the next staging.
void tile_accumulate(inout vec4 acc[RM]) {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  [[unroll]] for (uint kk = 0; kk < KS; ++kk) {
    const uint bk = kk * BN + tx;
    const vec4 b = vec4(b_tile[bk], b_tile[bk + TX], b_tile[bk + 2 * TX], b_tile[bk + 3 * TX]);
    [[unroll]] for (uint i4 = 0; i4 < RM / 4; ++i4) {
      const vec4 a = a_tile[kk * (BMP / 4) + ty * (RM / 4) + i4];
      acc[4 * i4 + 0] += a.x * b;
      acc[4 * i4 + 1] += a.y * b;
      acc[4 * i4 + 2] += a.z * b;
      acc[4 * i4 + 3] += a.w * b;
    }
  }
}

// The tile-local row i and column c of the thread's block (acc[i][c]).
uint tile_row(uint i) { return gl_LocalInvocationID.y * RM + i; }
uint tile_col(uint c) { return gl_LocalInvocationID.x + TX * c; }
