/** Vite turns CSS imports into <link> tags; tell TypeScript they exist. */
declare module '*.css';
