import { defineConfig } from "vite";

// The built app goes inside the Python package; asset URLs are relative (any base URL works).
export default defineConfig({
  base: "./",
  build: {
    outDir: "../src/lp3d_app/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  test: { environment: "node" },
} as any);
