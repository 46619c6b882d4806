package service

// CleanFilename exposes cleanFilename to the tests of package service_test.
var CleanFilename = cleanFilename

// CheckBreakGlassInput exposes checkBreakGlassInput to the fuzz test.
var CheckBreakGlassInput = checkBreakGlassInput

// ParseQuery exposes parseQuery (the search box) to the tests of package
// service_test.
var ParseQuery = parseQuery
