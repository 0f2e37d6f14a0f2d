// Multi-page build: /index.html and /{login,register,password}/index.html, so a
// plain static server (nginx: try_files $uri $uri/index.html) serves /login
// /register and /password. Everything is bundled: the pages load nothing from other hosts.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// The auth service behind /api/ in the dev server (nginx strips /api/ the same way).
const backend = process.env.CFPS_BACKEND_URL ?? 'http://127.0.0.1:8100';

// The dev server answers /login, /register and /password like nginx does in prod.
function pageWithoutSlash(): Plugin {
  return {
    name: 'cfps-page-without-slash',
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        const [path, query] = (req.url ?? '').split('?', 2);
        if (path === '/login' || path === '/register' || path === '/password') {
          req.url = `${path}/index.html${query ? `?${query}` : ''}`;
        }
        next();
      });
    },
  };
}

// What pages share is written once, in partials/<name>.html, and put in at a
// line `<!-- partial:<name> key=value ... -->` (with that line's indentation;
// each {{key}} in the partial becomes its value), in the build and in the dev
// server. A missing partial or value stops the build, naming it.
function partial(indent: string, name: string, args: string): string {
  const values = new Map(args.trim() ? args.trim().split(/\s+/).map((kv) => kv.split('=', 2) as [string, string]) : []);
  return readFileSync(resolve(root, 'partials', `${name}.html`), 'utf8')
    .trimEnd()
    .replace(/\{\{(\w+)\}\}/g, (_m, key: string) => {
      const value = values.get(key);
      if (value === undefined) throw new Error(`partials/${name}.html needs ${key}=…`);
      return value;
    })
    .split('\n')
    .map((line) => indent + line)
    .join('\n');
}

function partials(): Plugin {
  return {
    name: 'cfps-partials',
    transformIndexHtml: {
      order: 'pre',
      handler: (html) => html.replace(/^( *)<!-- partial:([a-z-]+)((?: [\w-]+=[^\s]+)*) -->$/gm, (_l, indent, name, args) => partial(indent, name, args)),
    },
  };
}

export default defineConfig({
  plugins: [partials(), pageWithoutSlash()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        main: resolve(root, 'index.html'),
        login: resolve(root, 'login/index.html'),
        register: resolve(root, 'register/index.html'),
        password: resolve(root, 'password/index.html'),
      },
    },
  },
  server: {
    host: process.env.CFPS_FRONTEND_HOST ?? '127.0.0.1',
    port: Number(process.env.CFPS_FRONTEND_PORT ?? 3000),
    strictPort: true,
    proxy: {
      '/api': { target: backend, rewrite: (p) => p.replace(/^\/api/, '') },
    },
  },
});
