// ESLint (flat config) for the web client's ES modules. Self-contained on purpose: no
// plugin or preset imports, so it runs from a tools cache outside the repository
// (.ci/run: npm ci into the cache, then `eslint -c app/static/eslint.config.js`).

const browserGlobals = [
  "window", "document", "navigator", "console", "location", "history", "fetch", "URL",
  "URLSearchParams", "sessionStorage", "localStorage", "setTimeout", "clearTimeout",
  "setInterval", "clearInterval", "requestAnimationFrame", "cancelAnimationFrame",
  "performance", "crypto", "TextEncoder", "CustomEvent", "Event", "EventTarget", "WebSocket",
  "MediaStream", "RTCPeerConnection", "AudioContext", "HTMLMediaElement", "Option", "CSS",
  "DOMException", "AbortController", "Promise", "Map", "Set", "Uint8Array", "Float32Array",
  "JSON", "Math", "Number", "String", "Object", "Array", "Boolean", "Date", "Error", "Symbol",
  "globalThis", "structuredClone", "queueMicrotask",
];

export default [
  {
    files: ["**/*.js"],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: Object.fromEntries(browserGlobals.map((name) => [name, "readonly"])),
    },
    rules: {
      "no-undef": "error",
      "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
      "no-unreachable": "error",
      "no-dupe-keys": "error",
      "no-dupe-class-members": "error",
      "no-duplicate-imports": "error",
      "no-self-assign": "error",
      "no-constant-condition": ["error", { checkLoops: false }],
      "no-async-promise-executor": "error",
      "no-unsafe-finally": "error",
      "no-fallthrough": "error",
      "no-redeclare": "error",
      "no-shadow-restricted-names": "error",
      "no-var": "error",
      "prefer-const": "error",
      eqeqeq: ["error", "smart"],
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
    },
  },
];
