// Package cuda binds the parts of the NVIDIA driver API (libcuda), NVRTC
// and cuBLAS that sslens's GPU executor uses, at run time through purego:
// no cgo and no CUDA toolkit at build time, so one static binary runs on
// CPU machines (where loading fails with a *LoadError saying what was
// looked for and where) and on GPU machines alike.
//
// Every call checks its result and returns an error naming the call and
// the driver's error name (cuda: cuMemAlloc(4096 bytes):
// CUDA_ERROR_OUT_OF_MEMORY). A Context makes itself current on the calling
// thread for each call, so the goroutine using it may move between threads.
//
// Kernels take one parameter, a struct laid out as C lays it out, so the
// same source runs on the GPU and, compiled as C++ for the host, in the
// executor's tests (see backend/gpu).
package cuda
