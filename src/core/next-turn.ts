// Gives the event loop back for one turn (I/O callbacks and other stages' work run, then us), so
// a long synchronous job can be cut into slices and a send just started can get going. Not a
// timer: it waits for no time, so it does not go through the injected clock.

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
