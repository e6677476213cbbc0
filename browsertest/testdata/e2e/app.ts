// The end-to-end test's page script (e2e_test.go): it exposes the
// generated client and the runtime to the test, which drives them.
import * as parley from "./parley";
import * as pb from "./e2e.parley";

(globalThis as any).parley = parley;
(globalThis as any).pb = pb;
(globalThis as any).probe = new pb.ProbeClient();
