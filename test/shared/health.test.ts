/** HealthTracker: the per-member up/down/draining state machine behind ejection and recovery. */
import { describe, expect, it } from "vitest";
import { HealthTracker, type MemberState } from "../../shared/health.js";

const A = "http://a:1";
const B = "http://b:2";

/** A tracker with A and B, recording every event in order. */
function tracked(options?: ConstructorParameters<typeof HealthTracker>[0]) {
  const health = new HealthTracker(options);
  const events: string[] = [];
  health.on("up", (id) => events.push(`up ${id}`));
  health.on("down", (id, state: MemberState) => events.push(`down ${id} ${state}`));
  health.add(A);
  health.add(B);
  return { health, events };
}

describe("members", () => {
  it("start up, without an event", () => {
    const { health, events } = tracked();
    expect(health.state(A)).toBe("up");
    expect(health.isUp(A)).toBe(true);
    expect(health.upIds()).toEqual([A, B]);
    expect(health.ids()).toEqual([A, B]);
    expect(events).toEqual([]);
  });

  it("can start in another state, and adding twice keeps the first state", () => {
    const health = new HealthTracker();
    health.add(A, "down");
    health.add(A, "up");
    expect(health.state(A)).toBe("down");
    expect(health.upIds()).toEqual([]);
  });

  it("are forgotten by remove, and unknown ids are ignored", () => {
    const { health, events } = tracked();
    health.remove(A);
    expect(health.has(A)).toBe(false);
    expect(health.state(A)).toBeUndefined();
    expect(health.isUp(A)).toBe(false);
    health.recordConnectionError(A);
    health.recordTimeout(A);
    health.recordDraining(A);
    health.recordHealthyProbe(A);
    health.recordSuccess(A);
    expect(health.has(A)).toBe(false);
    expect(events).toEqual([]);
  });
});

describe("going down", () => {
  it("a connection error marks a member down at once", () => {
    const { health, events } = tracked();
    health.recordConnectionError(A);
    expect(health.state(A)).toBe("down");
    expect(health.upIds()).toEqual([B]);
    expect(events).toEqual([`down ${A} down`]);
  });

  it("timeouts mark a member down only after timeoutsToEject in a row", () => {
    const { health, events } = tracked({ timeoutsToEject: 3 });
    health.recordTimeout(A);
    health.recordTimeout(A);
    expect(health.state(A)).toBe("up");
    expect(events).toEqual([]);
    health.recordTimeout(A);
    expect(health.state(A)).toBe("down");
    expect(events).toEqual([`down ${A} down`]);
  });

  it("defaults to two timeouts", () => {
    const { health } = tracked();
    health.recordTimeout(A);
    expect(health.state(A)).toBe("up");
    health.recordTimeout(A);
    expect(health.state(A)).toBe("down");
  });

  it("a success or a healthy probe between timeouts resets the count", () => {
    const { health } = tracked({ timeoutsToEject: 2 });
    health.recordTimeout(A);
    health.recordSuccess(A);
    health.recordTimeout(A);
    expect(health.state(A)).toBe("up");
    health.recordHealthyProbe(A);
    health.recordTimeout(A);
    expect(health.state(A)).toBe("up");
    health.recordTimeout(A);
    expect(health.state(A)).toBe("down");
  });

  it("counts timeouts per member", () => {
    const { health } = tracked({ timeoutsToEject: 2 });
    health.recordTimeout(A);
    health.recordTimeout(B);
    expect(health.upIds()).toEqual([A, B]);
  });

  it("a timeoutsToEject below 1 behaves as 1", () => {
    const { health } = tracked({ timeoutsToEject: 0 });
    health.recordTimeout(A);
    expect(health.state(A)).toBe("down");
  });
});

describe("draining", () => {
  it("a draining answer takes the member out at once, as a down event with state draining", () => {
    const { health, events } = tracked();
    health.recordDraining(A);
    expect(health.state(A)).toBe("draining");
    expect(health.isUp(A)).toBe(false);
    expect(health.upIds()).toEqual([B]);
    expect(events).toEqual([`down ${A} draining`]);
  });

  it("a draining member that then refuses connections goes down without a second event", () => {
    const { health, events } = tracked();
    health.recordDraining(A);
    health.recordConnectionError(A);
    expect(health.state(A)).toBe("down");
    expect(events).toEqual([`down ${A} draining`]);
  });

  it("a draining member comes back after healthy probes", () => {
    const { health, events } = tracked({ probesToRecover: 2 });
    health.recordDraining(A);
    health.recordHealthyProbe(A);
    expect(health.state(A)).toBe("draining");
    health.recordHealthyProbe(A);
    expect(health.state(A)).toBe("up");
    expect(events).toEqual([`down ${A} draining`, `up ${A}`]);
  });
});

describe("recovery", () => {
  it("a down member comes back up after probesToRecover healthy probes in a row", () => {
    const { health, events } = tracked({ probesToRecover: 3 });
    health.recordConnectionError(A);
    health.recordHealthyProbe(A);
    health.recordHealthyProbe(A);
    expect(health.state(A)).toBe("down");
    health.recordHealthyProbe(A);
    expect(health.state(A)).toBe("up");
    expect(health.upIds()).toEqual([A, B]);
    expect(events).toEqual([`down ${A} down`, `up ${A}`]);
  });

  it("a failure between healthy probes starts the count again", () => {
    const { health } = tracked({ probesToRecover: 2 });
    health.recordConnectionError(A);
    health.recordHealthyProbe(A);
    health.recordConnectionError(A);
    health.recordHealthyProbe(A);
    expect(health.state(A)).toBe("down");
    health.recordTimeout(A);
    health.recordHealthyProbe(A);
    expect(health.state(A)).toBe("down");
    health.recordHealthyProbe(A);
    expect(health.state(A)).toBe("up");
  });

  it("an ordinary success does not bring a down member back: only probes do", () => {
    const { health } = tracked();
    health.recordConnectionError(A);
    health.recordSuccess(A);
    health.recordSuccess(A);
    expect(health.state(A)).toBe("down");
  });

  it("after recovering, it takes a full count of probes to recover from the next failure", () => {
    const { health } = tracked({ probesToRecover: 2 });
    health.recordConnectionError(A);
    health.recordHealthyProbe(A);
    health.recordHealthyProbe(A);
    expect(health.state(A)).toBe("up");
    health.recordConnectionError(A);
    health.recordHealthyProbe(A);
    expect(health.state(A)).toBe("down");
  });

  it("after recovering, it takes a full count of timeouts to eject again", () => {
    const { health } = tracked({ timeoutsToEject: 2, probesToRecover: 1 });
    health.recordTimeout(A);
    health.recordTimeout(A);
    health.recordHealthyProbe(A);
    expect(health.state(A)).toBe("up");
    health.recordTimeout(A);
    expect(health.state(A)).toBe("up");
  });
});

describe("events", () => {
  it("fire exactly once per change of state, never twice in a row", () => {
    const { health, events } = tracked({ timeoutsToEject: 1, probesToRecover: 1 });
    health.recordConnectionError(A);
    health.recordConnectionError(A);
    health.recordTimeout(A);
    health.recordDraining(A);
    health.recordConnectionError(A);
    health.recordHealthyProbe(A);
    health.recordHealthyProbe(A);
    health.recordHealthyProbe(A);
    health.recordConnectionError(A);
    expect(events).toEqual([`down ${A} down`, `up ${A}`, `down ${A} down`]);
  });

  it("a healthy probe of an up member fires nothing", () => {
    const { health, events } = tracked();
    for (let i = 0; i < 5; i++) health.recordHealthyProbe(A);
    expect(events).toEqual([]);
  });

  it("name the member that changed", () => {
    const { health, events } = tracked({ probesToRecover: 1 });
    health.recordConnectionError(B);
    health.recordHealthyProbe(B);
    expect(health.state(A)).toBe("up");
    expect(events).toEqual([`down ${B} down`, `up ${B}`]);
  });
});

describe("the last failure", () => {
  it("is the reason of the last failed request or probe while the member is out, and cleared when it is up", () => {
    const tracker = new HealthTracker({ timeoutsToEject: 2, probesToRecover: 1 });
    tracker.add("a");
    expect(tracker.lastFailure("a")).toBeUndefined();
    tracker.recordTimeout("a");
    expect(tracker.lastFailure("a")).toBe("timed out");
    tracker.recordTimeout("a", "no health answer within 500 ms");
    expect(tracker.state("a")).toBe("down");
    expect(tracker.lastFailure("a")).toBe("no health answer within 500 ms");
    tracker.recordConnectionError("a", "ECONNREFUSED");
    expect(tracker.lastFailure("a")).toBe("ECONNREFUSED");
    tracker.recordConnectionError("a");
    expect(tracker.lastFailure("a")).toBe("ECONNREFUSED");
    tracker.recordHealthyProbe("a");
    expect(tracker.state("a")).toBe("up");
    expect(tracker.lastFailure("a")).toBeUndefined();
    expect(tracker.lastFailure("unknown")).toBeUndefined();
  });
});
