// The boundary itself: ABI version, variant control, status codes and error messages.
#include "test_support.h"

#include <cstdlib>
#include <thread>

using namespace frtest;

TEST(Api, AbiVersionMatchesHeader) { EXPECT_EQ(fr_abi_version(), FR_ABI_VERSION); }

TEST(Api, ScalarIsAlwaysSupportedAndUnknownNamesAreNot) {
    int32_t ok = -1;
    ASSERT_EQ(fr_kernel_variant_supported("scalar", &ok), FR_OK);
    EXPECT_EQ(ok, 1);
    ASSERT_EQ(fr_kernel_variant_supported("sse9", &ok), FR_OK);
    EXPECT_EQ(ok, 0);
    EXPECT_EQ(fr_kernel_variant_supported(nullptr, &ok), FR_ERR_NULL_ARGUMENT);
}

TEST(Api, ThreadOverrideIsLocalToTheThread) {
    const char* before = nullptr;
    ASSERT_EQ(fr_kernel_variant(&before), FR_OK);
    ASSERT_EQ(fr_set_thread_kernel_variant("scalar"), FR_OK);
    const char* now = nullptr;
    ASSERT_EQ(fr_kernel_variant(&now), FR_OK);
    EXPECT_STREQ(now, "scalar");
    std::string other;
    std::thread([&] { const char* v = nullptr; fr_kernel_variant(&v); other = v; }).join();
    EXPECT_EQ(other, before);
    ASSERT_EQ(fr_set_thread_kernel_variant(nullptr), FR_OK);
    ASSERT_EQ(fr_kernel_variant(&now), FR_OK);
    EXPECT_STREQ(now, before);
}

TEST(Api, SettingVariantsReportsErrors) {
    EXPECT_EQ(fr_set_thread_kernel_variant("bogus"), FR_ERR_INVALID_ARGUMENT);
    const char* message = nullptr;
    ASSERT_EQ(fr_last_error(&message), FR_OK);
    EXPECT_NE(std::string(message).find("bogus"), std::string::npos);
#if defined(__x86_64__)
    EXPECT_EQ(fr_set_thread_kernel_variant("neon"), FR_ERR_UNSUPPORTED);
#else
    EXPECT_EQ(fr_set_thread_kernel_variant("avx2"), FR_ERR_UNSUPPORTED);
#endif
}

TEST(Api, ProcessVariantCanBeSetAndReset) {
    const char* best = nullptr;
    ASSERT_EQ(fr_set_kernel_variant("auto"), FR_OK);
    ASSERT_EQ(fr_kernel_variant(&best), FR_OK);
    ASSERT_EQ(fr_set_kernel_variant("scalar"), FR_OK);
    const char* now = nullptr;
    ASSERT_EQ(fr_kernel_variant(&now), FR_OK);
    EXPECT_STREQ(now, "scalar");
    ASSERT_EQ(fr_set_kernel_variant(nullptr), FR_OK);
    ASSERT_EQ(fr_kernel_variant(&now), FR_OK);
    EXPECT_STREQ(now, best);
}

TEST(Api, BestVariantOnThisMachine) {
    const char* best = nullptr;
    ASSERT_EQ(fr_set_kernel_variant("auto"), FR_OK);
    ASSERT_EQ(fr_kernel_variant(&best), FR_OK);
    auto variants = SupportedVariants();
    EXPECT_EQ(std::string(best), variants.back()) << "auto must pick the best supported variant";
}

TEST(Api, NullAndInvalidArguments) {
    float x[4] = { 1, 2, 3, 4 };
    int32_t idx[4];
    int32_t count;
    EXPECT_EQ(fr_topk_f32(x, 4, 2, idx, nullptr, nullptr), FR_ERR_NULL_ARGUMENT);
    EXPECT_EQ(fr_topk_f32(nullptr, 4, 2, idx, nullptr, &count), FR_ERR_NULL_ARGUMENT);
    EXPECT_EQ(fr_topk_f32(x, 4, -1, idx, nullptr, &count), FR_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(fr_topk_f32(x, -4, 1, idx, nullptr, &count), FR_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(fr_topk_rows_f32(x, 2, 3, 2, 1, idx, nullptr, &count), FR_ERR_INVALID_ARGUMENT);
    float lse;
    EXPECT_EQ(fr_logsumexp_rows_f32(x, 1, 0, 0, &lse), FR_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(fr_logsumexp_rows_f32(x, 1, 4, 4, nullptr), FR_ERR_NULL_ARGUMENT);
    EXPECT_EQ(fr_last_error(nullptr), FR_ERR_NULL_ARGUMENT);
}

// Run by CTest in its own process with FASTRANK_KERNEL_VARIANT=scalar (see CMakeLists.txt).
TEST(EnvVariant, EnvironmentVariableChoosesTheInitialVariant) {
    const char* env = std::getenv("FASTRANK_KERNEL_VARIANT");
    if (env == nullptr) GTEST_SKIP() << "FASTRANK_KERNEL_VARIANT not set";
    const char* now = nullptr;
    ASSERT_EQ(fr_kernel_variant(&now), FR_OK);
    EXPECT_STREQ(now, env);
}
