// The decode kernels' readout o = q' S of a block of CQ column quads: thread (rg, cq) holds in p
// its RG-th share of the rows, and the shares are summed over the RG row groups in the shared
// `partial` [row group][column quad] (declared by the includer, with CQ and RG); afterwards
// partial[cq] holds column quad cq's total. Every thread of the workgroup must call it.
void sum_row_groups(vec4 p, uint t, uint rg) {
  partial[t] = p;
  barrier();
  for (uint stride = RG / 2; stride > 0; stride /= 2) {
    if (rg < stride) partial[t] += partial[t + stride * CQ];
    barrier();
  }
}
