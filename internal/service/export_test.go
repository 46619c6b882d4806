package service

// CleanFilename exposes cleanFilename to the tests of package service_test.
var CleanFilename = cleanFilename
