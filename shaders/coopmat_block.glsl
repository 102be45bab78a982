// The fragments of one subgroup's 64 x 64 block on tensor cores (VK_NV_cooperative_matrix), as
// the tensor-core matmul and the bench's tensor-core ceiling hold them: 4 rows of 16 x 16
// fragments of A, 64 / FRAG_N columns of 16 x FRAG_N fragments of B, and an f32 accumulator for
// each pair. The includer defines FRAG_N (16 or 8) and SCOPE_SUBGROUP. The accumulators are
// separate named variables made with these macros, not an array: with an array of cooperative
// matrices the driver (NVIDIA 580) kept them in memory and the matmul ran 3.4x slower.
#define ACC fcoopmatNV<32, SCOPE_SUBGROUP, 16, FRAG_N>
#define A_FRAG fcoopmatNV<16, SCOPE_SUBGROUP, 16, 16>
#define B_FRAG fcoopmatNV<16, SCOPE_SUBGROUP, 16, FRAG_N>
// F(i, j) for every accumulator (4 rows of fragments, 64 / FRAG_N columns); G(j) for every
// column, G(i) for every row.
#if FRAG_N == 16
#define EACH_COLUMN(G) G(0) G(1) G(2) G(3)
#define EACH_IN_ROW(F, i) F(i, 0) F(i, 1) F(i, 2) F(i, 3)
#else
#define EACH_COLUMN(G) G(0) G(1) G(2) G(3) G(4) G(5) G(6) G(7)
#define EACH_IN_ROW(F, i) F(i, 0) F(i, 1) F(i, 2) F(i, 3) F(i, 4) F(i, 5) F(i, 6) F(i, 7)
#endif
#define EACH_ROW(G) G(0) G(1) G(2) G(3)
#define EACH_ACC(F) EACH_IN_ROW(F, 0) EACH_IN_ROW(F, 1) EACH_IN_ROW(F, 2) EACH_IN_ROW(F, 3)
