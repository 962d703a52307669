// Two FanoutPorts as one (src/lifecycle/fanout-port.ts): the SCIM fan-out's outbox and the SSF outbox both
// write in the HR transaction, one after the other, on the same client.
import type { FanoutPort } from "../lifecycle/fanout-port.ts";

export function combinePorts(a: FanoutPort, b: FanoutPort): FanoutPort {
  return {
    userChanged: async (tx, e) => { await a.userChanged(tx, e); await b.userChanged(tx, e); },
    membershipChanged: async (tx, e) => { await a.membershipChanged(tx, e); await b.membershipChanged(tx, e); },
    userDeleted: async (tx, e) => { await a.userDeleted(tx, e); await b.userDeleted(tx, e); },
    changedInBatch: async (tx, c) => { await a.changedInBatch(tx, c); await b.changedInBatch(tx, c); },
  };
}
