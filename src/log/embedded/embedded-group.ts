// Group coordinator of the embedded log, with Kafka's eager-rebalance semantics: when a member
// joins or leaves, every member first finishes its in-flight batch and gives up all partitions,
// then the range assignor hands out the new assignment. So one partition never has two owners.

import type { TopicPartition } from '../partitioned-log.js';
import { assignRange } from './range-assignor.js';

export interface GroupMember {
  readonly memberId: string;
  readonly topics: readonly string[];
  /** Resolves after the member's in-flight work ended and it owns nothing. */
  revoke(): Promise<void>;
  assign(owned: TopicPartition[]): void;
}

export class EmbeddedGroup {
  private members: GroupMember[] = [];
  private rebalancing: Promise<void> = Promise.resolve();
  private joined = 0;

  constructor(
    readonly groupId: string,
    private readonly partitionCount: (topic: string) => number,
  ) {}

  /** Member ids sort in join order, so the range assignor is deterministic. */
  nextMemberId(name: string): string {
    return `${String(this.joined++).padStart(8, '0')}-${name}`;
  }

  join(member: GroupMember): Promise<void> {
    return this.rebalance(() => {
      this.members = [...this.members, member];
    });
  }

  leave(member: GroupMember): Promise<void> {
    return this.rebalance(() => {
      this.members = this.members.filter((m) => m !== member);
    });
  }

  get size(): number {
    return this.members.length;
  }

  private rebalance(change: () => void): Promise<void> {
    const run = this.rebalancing.then(async () => {
      change();
      const members = this.members;
      await Promise.all(members.map((m) => m.revoke()));
      const topics = new Set(members.flatMap((m) => m.topics));
      const counts = new Map([...topics].map((t) => [t, this.partitionCount(t)]));
      const assignment = assignRange(members, counts);
      for (const m of members) m.assign(assignment.get(m.memberId) ?? []);
    });
    // Revoke and assign do not throw; the chain must survive anyway for the next rebalance.
    this.rebalancing = run.catch(() => undefined);
    return run;
  }
}
