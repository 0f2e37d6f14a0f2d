// Unit tests only (pure modules, no DOM); the browser tests run with `node --test`.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
  },
});
