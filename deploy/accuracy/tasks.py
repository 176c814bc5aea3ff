"""Synthetic long-context retrieval tasks for the accuracy testbed (byte-level text).

The C# evaluation (silo/MInference.Engine/Evaluation/RetrievalTasks.cs) renders the same templates, so
the model is evaluated on the distribution it was trained on. The random draws differ between the two
languages; only the text formats must agree. Every sample is

    prompt (BOS, context with the needle(s), question)  +  answer

and the model must produce the answer greedily. All text is ASCII, so one byte is one token.

Tasks:
- niah:  one needle "The special magic number for KEY is NNNNNNN." at a depth of filler text.
- multi: four needles with different keys at random depths (the asked one at the given depth).
- kv:    the JSON key-value retrieval prompt of MInference's search (UUID keys and values).
- vt:    variable tracking: two chains "VAR A = 12345." "VAR B = VAR A." "VAR C = VAR B." in filler.
"""

import random

BOS = 256
EOS = 257
PAD = 258
VOCAB = 259

# Filler vocabulary: lower-case words only, no digits, so needles stand out only by meaning.
WORDS = (
    "the of and to in is was for on that with as by at from his her they this have had were "
    "which one all their there been has would when more will some time them into other could "
    "what about than only its over also people after first many then water way made year long "
    "little very before great through back where much good well down world still house even "
    "place small every under never city along light night river stone field garden morning "
    "green blue quiet open window road bright cold warm old new young early late slow simple"
).split()

NIAH_QUESTION = "\nQuestion: What is the special magic number for {key}?\nAnswer: "
KV_INSTRUCTION = "Extract the value corresponding to the specified key in the JSON object below.\n\nJSON data:\n{"
KV_QUESTION = "}\n\nKey: \"{key}\"\nThe value associated with the specified key is: "
VT_QUESTION = "\nQuestion: What is the value of VAR {name}?\nAnswer: "
TASKS = ("niah", "multi", "kv", "vt")


def needle(key, number):
    return f"The special magic number for {key} is {number}. "


def filler_sentence(rng):
    n = rng.randint(5, 12)
    words = [rng.choice(WORDS) for _ in range(n)]
    return words[0].capitalize() + " " + " ".join(words[1:]) + ". "


def filler(rng, length):
    """Filler text of exactly `length` bytes made of whole sentences (the last one cut)."""
    parts, size = [], 0
    while size < length:
        s = filler_sentence(rng)
        parts.append(s)
        size += len(s)
    return "".join(parts)[:length]


def random_key(rng, letters=6):
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(letters))


def random_number(rng, digits=7):
    return str(rng.randint(10 ** (digits - 1), 10 ** digits - 1))


def uuid(rng):
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def insert_at_sentence(text, fraction, piece):
    """Inserts `piece` at the sentence start nearest after `fraction` of `text` (or at its end)."""
    pos = int(fraction * len(text))
    if pos <= 0:
        return piece + text
    dot = text.find(". ", pos - 1)
    if dot < 0:
        # Past the last full sentence: go back to the start of the last one.
        dot = text.rfind(". ", 0, pos)
    if dot < 0:
        return piece + text
    cut = dot + 2
    return text[:cut] + piece + text[cut:]


def haystack_task(rng, tokens, depth, needles):
    """niah (needles=1) and multi: the asked needle at `depth`, others at random depths."""
    keys = set()
    while len(keys) < needles:
        keys.add(random_key(rng))
    keys = list(keys)
    numbers = [random_number(rng) for _ in keys]
    question = NIAH_QUESTION.format(key=keys[0])
    answer = numbers[0] + "."
    pieces = [needle(k, v) for k, v in zip(keys, numbers)]
    budget = tokens - 1 - len(question) - len(answer) - sum(len(p) for p in pieces)
    text = filler(rng, max(budget, 16))
    # Insert in order of decreasing depth so earlier insertions do not shift later fractions much.
    placed = [(depth, pieces[0])] + [(rng.random(), p) for p in pieces[1:]]
    for frac, p in sorted(placed, key=lambda x: -x[0]):
        text = insert_at_sentence(text, frac, p)
    return text + question, answer


def kv_task(rng, tokens, depth, key_chars=None):
    """MInference's KV retrieval prompt; the asked pair at `depth` of the pairs. Training only: with
    `key_chars`, the keys are that many hex digits instead of UUIDs (distinct; the values stay UUIDs),
    an easier form of the same key matching."""
    key_bytes = 36 if key_chars is None else key_chars
    pair_bytes = key_bytes + 36 + 8
    count = max(2, (tokens - 1 - len(KV_INSTRUCTION) - len(KV_QUESTION) - key_bytes - 38) // pair_bytes)
    if key_chars is None:
        pairs = [(uuid(rng), uuid(rng)) for _ in range(count)]
    else:
        if 16 ** key_chars < 4 * count:
            raise ValueError(f"{key_chars} hex digits cannot key {count} pairs distinctly (need 16^digits >= {4 * count})")
        keys = set()
        while len(keys) < count:
            keys.add(f"{rng.getrandbits(4 * key_chars):0{key_chars}x}")
        pairs = [(k, uuid(rng)) for k in keys]
    asked = min(count - 1, int(depth * count))
    body = ", ".join(f"\"{k}\": \"{v}\"" for k, v in pairs)
    key, value = pairs[asked]
    return KV_INSTRUCTION + body + KV_QUESTION.replace("{key}", key), value


def vt_task(rng, tokens, depth):
    """Two chains of three assignments; the question asks the last name of the first chain."""
    names = set()
    while len(names) < 6:
        names.add("".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5)))
    names = list(names)
    values = [random_number(rng, 5), random_number(rng, 5)]
    chains = [names[:3], names[3:]]
    statements = []
    for c, chain in enumerate(chains):
        s = [f"VAR {chain[0]} = {values[c]}. "] + [f"VAR {chain[i]} = VAR {chain[i - 1]}. " for i in (1, 2)]
        # The asked chain starts at `depth`; its later links follow at random later depths.
        start = depth if c == 0 else rng.random()
        fracs = sorted([start] + [start + (1 - start) * rng.random() for _ in range(2)])
        statements += list(zip(fracs, s))
    question = VT_QUESTION.format(name=chains[0][2])
    answer = values[0] + "."
    budget = tokens - 1 - len(question) - len(answer) - sum(len(p) for _, p in statements)
    text = filler(rng, max(budget, 16))
    # Insert deepest first; equal fractions keep chain order because later links are inserted first.
    for i, (frac, p) in sorted(enumerate(statements), key=lambda x: (-x[1][0], -x[0])):
        text = insert_at_sentence(text, frac, p)
    return text + question, answer


def make(task, rng, tokens, depth=None):
    """(prompt text without BOS, answer text) of about `tokens` tokens in all (BOS included)."""
    if depth is None:
        depth = rng.random()
    if task == "niah":
        return haystack_task(rng, tokens, depth, 1)
    if task == "multi":
        return haystack_task(rng, tokens, depth, 4)
    if task == "kv":
        return kv_task(rng, tokens, depth)
    if task == "vt":
        return vt_task(rng, tokens, depth)
    raise ValueError(f"unknown task {task!r} (known: {', '.join(TASKS)})")


def copy_task(rng, tokens):
    """Training only: a list of random letter strings, then the same list again. Every byte of the
    repeat after its first string is predictable by looking back (an induction head), which gives the
    dense signal the retrieval tasks need early in training."""
    items, size = [], 0
    half = (tokens - 1 - 16) // 2
    while True:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(3, 9)))
        if size + len(word) + 1 > half and items:
            break
        items.append(word)
        size += len(word) + 1
    listing = " ".join(items)
    return "Copy: " + listing + "\nAgain: ", listing


def encode(text):
    return list(text.encode("ascii"))
