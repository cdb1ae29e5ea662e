// Pins the layout of every struct of the plugin ABI v1 (LP64: x86_64, aarch64). A change that
// moves a field breaks every plugin already built, so it must fail here first. Appending a field
// changes only the sizeof line of its struct and bumps BB_ABI_VERSION_MINOR.
#include <gtest/gtest.h>

#include <cstddef>

#include "brickbench/brick_abi.h"

extern "C" int bb_abi_c99_check(void);  // abi_c99_check.c: the header compiles as C99

#define PIN(type, field, off) static_assert(offsetof(type, field) == (off), #type "." #field " moved")
#define PIN_SIZE(type, size) static_assert(sizeof(type) == (size), "sizeof(" #type ") changed")

static_assert(sizeof(void*) == 8 && sizeof(size_t) == 8, "the pinned layout is LP64's");

PIN(bb_tensor, struct_size, 0);
PIN(bb_tensor, data, 8);
PIN(bb_tensor, device_type, 16);
PIN(bb_tensor, device_id, 20);
PIN(bb_tensor, ndim, 24);
PIN(bb_tensor, type, 28);
PIN(bb_tensor, shape, 32);
PIN(bb_tensor, strides, 64);
PIN(bb_tensor, nbytes, 96);
PIN(bb_tensor, name, 104);
PIN_SIZE(bb_tensor, 112);

PIN(bb_kv, key, 0);
PIN(bb_kv, value, 8);
PIN_SIZE(bb_kv, 16);

PIN(bb_capability, struct_size, 0);
PIN(bb_capability, op, 8);
PIN(bb_capability, weight_type, 12);
PIN(bb_capability, flags, 16);
PIN_SIZE(bb_capability, 24);

PIN(bb_model_dims, struct_size, 0);
PIN(bb_model_dims, n_embd, 8);
PIN(bb_model_dims, n_ff, 12);
PIN(bb_model_dims, n_head, 16);
PIN(bb_model_dims, n_head_kv, 20);
PIN(bb_model_dims, head_dim, 24);
PIN(bb_model_dims, n_layer, 28);
PIN(bb_model_dims, n_vocab, 32);
PIN(bb_model_dims, n_ctx_max, 36);
PIN(bb_model_dims, rms_eps, 40);
PIN(bb_model_dims, rope_theta, 48);
PIN(bb_model_dims, tied_embeddings, 56);
PIN(bb_model_dims, reserved0, 60);
PIN_SIZE(bb_model_dims, 64);

PIN(bb_host_api, struct_size, 0);
PIN(bb_host_api, abi_major, 8);
PIN(bb_host_api, abi_minor, 12);
PIN(bb_host_api, host_data, 16);
PIN(bb_host_api, log, 24);
PIN(bb_host_api, aligned_alloc, 32);
PIN(bb_host_api, aligned_free, 40);
PIN(bb_host_api, n_threads, 48);
PIN(bb_host_api, reserved0, 52);
PIN(bb_host_api, cancel_flag, 56);
PIN_SIZE(bb_host_api, 64);

PIN(bb_probe_args, struct_size, 0);
PIN(bb_probe_args, host_abi_major, 8);
PIN(bb_probe_args, host_abi_minor, 12);
PIN(bb_probe_args, reason, 16);
PIN(bb_probe_args, reason_capacity, 24);
PIN_SIZE(bb_probe_args, 32);

PIN(bb_context_args, struct_size, 0);
PIN(bb_context_args, device_id, 8);
PIN(bb_context_args, n_threads, 12);
PIN(bb_context_args, n_options, 16);
PIN(bb_context_args, options, 24);
PIN_SIZE(bb_context_args, 32);

PIN(bb_plan_desc, struct_size, 0);
PIN(bb_plan_desc, op, 8);
PIN(bb_plan_desc, n_weight_sets, 12);
PIN(bb_plan_desc, n_weights_per_set, 16);
PIN(bb_plan_desc, n_inputs, 20);
PIN(bb_plan_desc, n_outputs, 24);
PIN(bb_plan_desc, reserved0, 28);
PIN(bb_plan_desc, dims, 32);
PIN(bb_plan_desc, weights, 40);
PIN(bb_plan_desc, inputs, 48);
PIN(bb_plan_desc, outputs, 56);
PIN(bb_plan_desc, params, 64);
PIN_SIZE(bb_plan_desc, 128);

PIN(bb_run_args, struct_size, 0);
PIN(bb_run_args, iterations, 8);
PIN(bb_run_args, weight_set_begin, 16);
PIN(bb_run_args, device_time_valid, 24);
PIN(bb_run_args, reserved0, 28);
PIN(bb_run_args, device_time_ns, 32);
PIN_SIZE(bb_run_args, 40);

PIN(bb_session_desc, struct_size, 0);
PIN(bb_session_desc, n_tensors, 8);
PIN(bb_session_desc, kv_type, 12);
PIN(bb_session_desc, dims, 16);
PIN(bb_session_desc, tensors, 24);
PIN_SIZE(bb_session_desc, 32);

PIN(bb_decode_args, struct_size, 0);
PIN(bb_decode_args, token, 8);
PIN(bb_decode_args, pos, 12);
PIN(bb_decode_args, iterations, 16);
PIN(bb_decode_args, logits, 24);
PIN(bb_decode_args, device_time_valid, 32);
PIN(bb_decode_args, reserved0, 36);
PIN(bb_decode_args, device_time_ns, 40);
PIN_SIZE(bb_decode_args, 48);

PIN(bb_kv_write_args, struct_size, 0);
PIN(bb_kv_write_args, layer, 8);
PIN(bb_kv_write_args, pos_begin, 12);
PIN(bb_kv_write_args, n_pos, 16);
PIN(bb_kv_write_args, reserved0, 20);
PIN(bb_kv_write_args, k, 24);
PIN(bb_kv_write_args, v, 32);
PIN_SIZE(bb_kv_write_args, 40);

PIN(bb_generate_args, struct_size, 0);
PIN(bb_generate_args, n_prompt, 8);
PIN(bb_generate_args, n_generate, 12);
PIN(bb_generate_args, prompt, 16);
PIN(bb_generate_args, tokens_out, 24);
PIN(bb_generate_args, pos_begin, 32);
PIN(bb_generate_args, reserved0, 36);
PIN(bb_generate_args, device_time_valid, 40);
PIN(bb_generate_args, reserved1, 44);
PIN(bb_generate_args, device_time_ns, 48);
PIN_SIZE(bb_generate_args, 56);

PIN(bb_plugin_api, struct_size, 0);
PIN(bb_plugin_api, abi_major, 8);
PIN(bb_plugin_api, abi_minor, 12);
PIN(bb_plugin_api, name, 16);
PIN(bb_plugin_api, version, 24);
PIN(bb_plugin_api, description, 32);
PIN(bb_plugin_api, error_status, 40);
PIN(bb_plugin_api, error_message, 48);
PIN(bb_plugin_api, error_destroy, 56);
PIN(bb_plugin_api, get_capabilities, 64);
PIN(bb_plugin_api, get_build_info, 72);
PIN(bb_plugin_api, context_create, 80);
PIN(bb_plugin_api, context_destroy, 88);
PIN(bb_plugin_api, plan_create, 96);
PIN(bb_plugin_api, plan_destroy, 104);
PIN(bb_plugin_api, plan_write_inputs, 112);
PIN(bb_plugin_api, plan_run, 120);
PIN(bb_plugin_api, plan_read_outputs, 128);
PIN(bb_plugin_api, session_create, 136);
PIN(bb_plugin_api, session_destroy, 144);
PIN(bb_plugin_api, session_decode, 152);
PIN(bb_plugin_api, session_read_logits, 160);
PIN(bb_plugin_api, session_write_kv, 168);
PIN(bb_plugin_api, session_generate, 176);
PIN(bb_plugin_api, session_get_metrics, 184);  // appended in 1.1
PIN_SIZE(bb_plugin_api, 192);

TEST(AbiLayout, VersionIsOnePointOne) {
  // Bumping either number is a deliberate act: update the pins above and this line together.
  // 1.1 appended bb_plugin_api.session_get_metrics.
  EXPECT_EQ(BB_ABI_VERSION_MAJOR, 1);
  EXPECT_EQ(BB_ABI_VERSION_MINOR, 1);
}

TEST(AbiLayout, GgmlTypeIdsMatchGguf) {
  // GGUF stores these ids; a plugin receives them untouched (ggml.h enum ggml_type).
  EXPECT_EQ(BB_TYPE_F32, 0);
  EXPECT_EQ(BB_TYPE_F16, 1);
  EXPECT_EQ(BB_TYPE_Q4_0, 2);
  EXPECT_EQ(BB_TYPE_Q5_0, 6);
  EXPECT_EQ(BB_TYPE_Q8_0, 8);
  EXPECT_EQ(BB_TYPE_Q4_K, 12);
  EXPECT_EQ(BB_TYPE_Q5_K, 13);
  EXPECT_EQ(BB_TYPE_Q6_K, 14);
  EXPECT_EQ(BB_TYPE_I32, 26);
  EXPECT_EQ(BB_TYPE_BF16, 30);
}

TEST(AbiLayout, HasFieldReadsOnlyWhatStructSizeCovers) {
  bb_run_args old_writer{};
  old_writer.struct_size = offsetof(bb_run_args, device_time_valid);  // a writer that predates it
  EXPECT_TRUE(BB_HAS_FIELD(&old_writer, bb_run_args, weight_set_begin));
  EXPECT_FALSE(BB_HAS_FIELD(&old_writer, bb_run_args, device_time_valid));
  old_writer.struct_size = sizeof(bb_run_args);
  EXPECT_TRUE(BB_HAS_FIELD(&old_writer, bb_run_args, device_time_ns));
}

TEST(AbiLayout, HeaderCompilesAsC99WithTheSameLayout) {
  // The C translation unit returns sizeof(bb_plugin_api) + sizeof(bb_tensor) as a C compiler sees them.
  EXPECT_EQ(bb_abi_c99_check(), static_cast<int>(sizeof(bb_plugin_api) + sizeof(bb_tensor)));
}
