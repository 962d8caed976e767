// Stylesheets are bundled by esbuild into dist/console.css.
declare module "*.css";
