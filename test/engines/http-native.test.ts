// The same tests as ./http.test.ts, against the native data plane (engines.http where its addon built).
process.env.GV_TEST_HTTP_IMPL = 'native';
await import('./http.test.js');
