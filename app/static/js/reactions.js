// The reactions a meeting offers (the server accepts exactly these, signaling.protocol
// REACTIONS) with the names a screen reader says, and how long one stays on a tile.

export const REACTIONS = [
  { emoji: "👍", name: "Thumbs up" },
  { emoji: "👏", name: "Applause" },
  { emoji: "😂", name: "Laughing" },
  { emoji: "❤️", name: "Heart" },
  { emoji: "🎉", name: "Celebrate" },
  { emoji: "😮", name: "Surprised" },
];

export const REACTION_MS = 4000;

/** The spoken name of `emoji`, or null when it is not one of ours (shown as nothing). */
export function reactionName(emoji) {
  return REACTIONS.find((r) => r.emoji === emoji)?.name ?? null;
}

/** What a screen reader hears for a reaction or a hand, e.g. "Ann: Applause". */
export function describeReaction(who, emoji) {
  const name = reactionName(emoji);
  return name ? `${who}: ${name}` : null;
}

/** What a screen reader hears when a hand goes up or down (`by`: who lowered it). */
export function describeHand(who, raised, byHost = false, mine = false) {
  if (raised) return mine ? "Your hand is raised." : `${who} raised a hand.`;
  if (byHost) return mine ? "The host lowered your hand." : `The host lowered ${who}’s hand.`;
  return mine ? "Your hand is lowered." : `${who} lowered their hand.`;
}
