// Package ui is the sslens portal's user interface: go-app v9 components
// for every page (sign-in, dashboard, dataset browser and image detail,
// augmentation preview, runs and the live run page, launch, results,
// scoring), and RegisterRoutes, which both the WebAssembly build (the
// browser) and the server (prerendering) call so that they agree on every
// path.
//
// Pages talk to the server only through app/api, with the wire types of
// the project's shared package; they never import backend/. Each page
// keeps its own small state, fetches it in OnMount or OnNav, and renders
// from it: a loading state, an error with what to do next, an empty state,
// or the data. Page state that belongs in the address (filters, page
// numbers, the selected item) lives in the URL query, so the back button
// and reloads keep it.
//
// Pages mark their main element with data-page (the page's name) and,
// once the WebAssembly build has mounted them, data-mounted and data-state
// (loading, ready, error, forbidden); the browser tests wait on these.
package ui
