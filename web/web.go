// Package web holds the strata console: the TypeScript source under src/,
// and its build output under dist/, which is committed so that `go build`
// works on a fresh clone without Node.js. build.sh rebuilds dist/ with
// esbuild (and `build.sh --check` fails when the committed output is out of
// date); the HTTP front end serves Dist at /ui/.
package web

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Dist is the console's built assets, rooted at dist/ (index.html,
// console.js, console.css).
var Dist fs.FS = mustSub(dist, "dist")

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // dir is a literal that go:embed has checked exists
	}
	return s
}
