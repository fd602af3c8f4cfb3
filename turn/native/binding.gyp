{
  "targets": [
    {
      "target_name": "turn_native",
      "sources": ["src/addon.cc", "src/datapath.cc", "src/worker.cc", "src/relay.cc", "src/stun.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=gnu++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-pthread"]
    }
  ]
}
