// How the app names people: the display name the server sent (from the person's sign-in
// token), and when there is none the role word ("your provider", "the patient"). Ids are
// never shown. Names are PHI: they go into the page's text only, never into the console.

/** The other side of a call as a role word, for someone whose role is `myRole`. */
export function roleWord(myRole, { capital = false } = {}) {
  const word = myRole === 'patient' ? 'your provider' : 'your patient';
  return capital ? word[0].toUpperCase() + word.slice(1) : word;
}

/** The name the call's state holds for `userId`, or null. */
export function nameIn(state, userId) {
  return (userId && state?.names?.[userId]) || null;
}

/** The other person's name in this call (first named participant, else the caller), or null. */
export function otherNameIn(state) {
  for (const id of Object.keys(state?.participants ?? {})) if (state.names?.[id]) return state.names[id];
  return state?.fromName || null;
}

/** `name`, or the role word when it is unknown. */
export function nameOr(name, myRole, opts) {
  return name || roleWord(myRole, opts);
}
