{
  "targets": [
    {
      "target_name": "llava_native",
      "sources": [
        "native/addon.cpp",
        "native/memory.cpp",
        "native/threadpool.cpp",
        "native/elementwise.cpp",
        "native/cast.cpp",
        "native/reduce.cpp",
        "native/embedding.cpp",
        "native/optim.cpp",
        "native/softmax.cpp",
        "native/norm.cpp",
        "native/rope.cpp",
        "native/attention.cpp",
        "native/loss.cpp",
        "native/gemm.cpp",
        "native/gemm_blas.cpp",
        "native/gemm_kernel.cpp",
        "native/gemm_small.cpp",
        "native/gemm_quant.cpp",
        "native/quant.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-O3", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-mtune=native", "-fno-math-errno", "-fno-trapping-math", "-fexceptions", "-Wall", "-Wno-unused-parameter"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
