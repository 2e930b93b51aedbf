/*
 * wasi_nn.h — self-contained C header for the standard WASI-NN witx ABI (import module "wasi_ephemeral_nn").
 * It needs nothing from plume.h, so a bare wasi-nn guest (reactor or WASI command) can use it alone.
 *
 * Follows the upstream witx of WebAssembly/wasi-nn, file wasi-nn.witx at commit
 * 419a209846489ff86c4ff557789b813933c924ac (the revision with load_by_name, autodetect, unsupported_operation,
 * too_large and not_found). The lowering is the usual witx one: every function returns an nn_errno (u16,
 * widened to i32), results come back through an out-pointer, lists are (pointer, length) pairs, and a
 * tensor record is passed by pointer. Plume's host: docs/wasi-nn.md.
 */
#ifndef WASI_NN_H
#define WASI_NN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */
typedef uint32_t wasi_nn_buffer_size_t;
typedef uint32_t wasi_nn_graph_t;                   /* handle */
typedef uint32_t wasi_nn_graph_execution_context_t; /* handle */

/* nn_errno (witx: enum u16) */
typedef uint16_t wasi_nn_errno_t;
#define WASI_NN_ERRNO_SUCCESS 0u
#define WASI_NN_ERRNO_INVALID_ARGUMENT 1u
#define WASI_NN_ERRNO_INVALID_ENCODING 2u
#define WASI_NN_ERRNO_MISSING_MEMORY 3u
#define WASI_NN_ERRNO_BUSY 4u
#define WASI_NN_ERRNO_RUNTIME_ERROR 5u
#define WASI_NN_ERRNO_UNSUPPORTED_OPERATION 6u
#define WASI_NN_ERRNO_TOO_LARGE 7u /* witx: $model_too_large; also "output buffer too small" */
#define WASI_NN_ERRNO_NOT_FOUND 8u /* witx: $model_not_found */

/* tensor_type (witx: enum u8) */
typedef uint8_t wasi_nn_tensor_type_t;
#define WASI_NN_TYPE_F16 0u
#define WASI_NN_TYPE_F32 1u
#define WASI_NN_TYPE_U8 2u
#define WASI_NN_TYPE_I32 3u
#define WASI_NN_TYPE_I64 4u /* extension (WasmEdge numbering), not in the witx: ONNX int64 tensors */

/* graph_encoding (witx: enum u8) */
typedef uint8_t wasi_nn_graph_encoding_t;
#define WASI_NN_ENCODING_OPENVINO 0u
#define WASI_NN_ENCODING_ONNX 1u
#define WASI_NN_ENCODING_TENSORFLOW 2u
#define WASI_NN_ENCODING_PYTORCH 3u
#define WASI_NN_ENCODING_TENSORFLOWLITE 4u
#define WASI_NN_ENCODING_AUTODETECT 5u

/* execution_target (witx: enum u8) */
typedef uint8_t wasi_nn_execution_target_t;
#define WASI_NN_TARGET_CPU 0u
#define WASI_NN_TARGET_GPU 1u
#define WASI_NN_TARGET_TPU 2u

/* tensor_dimensions = list<u32>, tensor_data = list<u8> */
typedef struct {
  const uint32_t *buf;
  uint32_t len;
} wasi_nn_tensor_dimensions_t;
typedef struct {
  const uint8_t *buf;
  uint32_t len;
} wasi_nn_tensor_data_t;

/* tensor record: dims at offset 0, type at 8, data at 12; 20 bytes, align 4 */
typedef struct {
  wasi_nn_tensor_dimensions_t dimensions;
  wasi_nn_tensor_type_t type;
  wasi_nn_tensor_data_t data;
} wasi_nn_tensor_t;

/* graph_builder = list<u8>; graph_builder_array = list<graph_builder> */
typedef struct {
  const uint8_t *buf;
  uint32_t len;
} wasi_nn_graph_builder_t;

#if defined(__wasm32__)
_Static_assert(sizeof(wasi_nn_tensor_t) == 20, "witx tensor record is 20 bytes");
_Static_assert(offsetof(wasi_nn_tensor_t, type) == 8, "tensor.type at offset 8");
_Static_assert(offsetof(wasi_nn_tensor_t, data) == 12, "tensor.data at offset 12");
_Static_assert(sizeof(wasi_nn_graph_builder_t) == 8, "graph_builder is (ptr, len)");
#endif

#define WASI_NN_IMPORT(name) __attribute__((import_module("wasi_ephemeral_nn"), import_name(name)))

/* ---- raw imports of wasi_ephemeral_nn (errno returned as i32) ---- */
WASI_NN_IMPORT("load")
int32_t wasi_nn_load(const wasi_nn_graph_builder_t *builders, uint32_t builders_len, uint32_t encoding,
                     uint32_t target, wasi_nn_graph_t *out_graph);
WASI_NN_IMPORT("load_by_name")
int32_t wasi_nn_load_by_name(const char *name, uint32_t name_len, wasi_nn_graph_t *out_graph);
WASI_NN_IMPORT("init_execution_context")
int32_t wasi_nn_init_execution_context(wasi_nn_graph_t graph, wasi_nn_graph_execution_context_t *out_ctx);
WASI_NN_IMPORT("set_input")
int32_t wasi_nn_set_input(wasi_nn_graph_execution_context_t ctx, uint32_t index, const wasi_nn_tensor_t *tensor);
WASI_NN_IMPORT("compute") int32_t wasi_nn_compute(wasi_nn_graph_execution_context_t ctx);
/* Writes the output's bytes into out_buf; on TOO_LARGE (buffer too small) *out_written holds the size needed. */
WASI_NN_IMPORT("get_output")
int32_t wasi_nn_get_output(wasi_nn_graph_execution_context_t ctx, uint32_t index, uint8_t *out_buf,
                           uint32_t out_buf_max, wasi_nn_buffer_size_t *out_written);

/* ---- convenience helpers (header-only) ---- */

/* Loads one model from a single buffer of bytes (ONNX by default in Plume). */
static inline int32_t nn_load_bytes(const void *bytes, uint32_t len, uint32_t encoding, wasi_nn_graph_t *out_graph) {
  wasi_nn_graph_builder_t builder = {(const uint8_t *)bytes, len};
  return wasi_nn_load(&builder, 1, encoding, WASI_NN_TARGET_CPU, out_graph);
}

/* Loads a model registered on the node by a NUL-terminated name. */
static inline int32_t nn_load_by_name_str(const char *name, wasi_nn_graph_t *out_graph) {
  uint32_t len = 0;
  while (name[len]) len++;
  return wasi_nn_load_by_name(name, len, out_graph);
}

/* Sets input `index` from dims[0..rank) and a data buffer of `len` bytes. */
static inline int32_t nn_set_input(wasi_nn_graph_execution_context_t ctx, uint32_t index, uint32_t type,
                                   const uint32_t *dims, uint32_t rank, const void *data, uint32_t len) {
  wasi_nn_tensor_t t = {{dims, rank}, (wasi_nn_tensor_type_t)type, {(const uint8_t *)data, len}};
  return wasi_nn_set_input(ctx, index, &t);
}

/* Sets a float32 input: len is counted in floats. */
static inline int32_t nn_set_input_f32(wasi_nn_graph_execution_context_t ctx, uint32_t index, const uint32_t *dims,
                                       uint32_t rank, const float *data, uint32_t count) {
  return nn_set_input(ctx, index, WASI_NN_TYPE_F32, dims, rank, data, count * (uint32_t)sizeof(float));
}

/* A short name for an nn_errno, for logs. */
static inline const char *nn_errno_name(int32_t e) {
  switch (e) {
  case 0: return "success";
  case 1: return "invalid_argument";
  case 2: return "invalid_encoding";
  case 3: return "missing_memory";
  case 4: return "busy";
  case 5: return "runtime_error";
  case 6: return "unsupported_operation";
  case 7: return "too_large";
  case 8: return "not_found";
  default: return "unknown";
  }
}

#ifdef __cplusplus
}
#endif

#endif /* WASI_NN_H */
