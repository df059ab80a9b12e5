{
  "targets": [
    {
      "target_name": "gracevisor_splice",
      "sources": ["src/addon.cc", "src/splice-loop.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "gracevisor_http",
      "sources": ["src/http-addon.cc", "src/http-plane.cc", "src/http-parse.cc", "src/http-rewrite.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-invalid-offsetof"]
    }
  ]
}
