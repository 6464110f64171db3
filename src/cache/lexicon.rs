//! Word lists the verifier reads: number words, negations, opposite pairs,
//! formats, scope words, and well-known names written in lower case. English,
//! German, French and Spanish. Data, kept apart from the logic in `verify.rs`.

/// Number words and their values. Articles that double as "one" (`ein`,
/// `un`, `una`) are left out: they are far more often articles.
pub const NUMBER_WORDS: &[(&str, u32)] = &[
    ("zero", 0), ("one", 1), ("two", 2), ("three", 3), ("four", 4), ("five", 5),
    ("six", 6), ("seven", 7), ("eight", 8), ("nine", 9), ("ten", 10), ("eleven", 11),
    ("twelve", 12), ("thirteen", 13), ("fourteen", 14), ("fifteen", 15), ("sixteen", 16),
    ("seventeen", 17), ("eighteen", 18), ("nineteen", 19), ("twenty", 20), ("thirty", 30),
    ("forty", 40), ("fifty", 50), ("sixty", 60), ("seventy", 70), ("eighty", 80),
    ("ninety", 90), ("hundred", 100), ("thousand", 1000), ("million", 1_000_000),
    ("dozen", 12), ("single", 1), ("couple", 2), ("pair", 2), ("twice", 2), ("thrice", 3),
    ("half", 0),
    // German
    ("null", 0), ("eins", 1), ("zwei", 2), ("drei", 3), ("vier", 4), ("fünf", 5),
    ("sechs", 6), ("sieben", 7), ("acht", 8), ("neun", 9), ("zehn", 10), ("elf", 11),
    ("zwölf", 12), ("zwanzig", 20), ("dreißig", 30), ("hundert", 100), ("tausend", 1000),
    // French
    ("deux", 2), ("trois", 3), ("quatre", 4), ("cinq", 5), ("sept", 7), ("huit", 8),
    ("neuf", 9), ("dix", 10), ("onze", 11), ("douze", 12), ("vingt", 20), ("trente", 30),
    ("cent", 100), ("mille", 1000),
    // Spanish
    ("dos", 2), ("tres", 3), ("cuatro", 4), ("cinco", 5), ("seis", 6), ("siete", 7),
    ("ocho", 8), ("nueve", 9), ("diez", 10), ("once", 11), ("doce", 12), ("veinte", 20),
    ("treinta", 30), ("cien", 100), ("mil", 1000),
];

/// Ordinals count as numbers too ("the third planet" is not "the fourth").
pub const ORDINALS: &[(&str, u32)] = &[
    ("first", 1), ("third", 3), ("fourth", 4), ("fifth", 5), ("sixth", 6),
    ("seventh", 7), ("eighth", 8), ("ninth", 9), ("tenth", 10), ("last", 999),
    ("erste", 1), ("dritte", 3), ("vierte", 4), ("premier", 1), ("première", 1),
    ("troisième", 3), ("primero", 1), ("primera", 1), ("tercero", 3), ("tercera", 3),
];

/// Words that negate or exclude. `free` is handled as a suffix (`gluten-free`).
pub const NEGATIONS: &[&str] = &[
    "not", "no", "never", "without", "none", "nothing", "neither", "nor", "cannot",
    "avoid", "avoiding", "exclude", "excluding", "except", "omit", "omitting", "skip",
    "skipping", "lacking", "minus", "avoids", "excludes", "omits", "skips", "lacks",
    "nicht", "kein", "keine", "keinen", "keinem", "keiner", "ohne", "nie", "niemals",
    "pas", "sans", "jamais", "aucun", "aucune", "ni",
    "sin", "nunca", "ningún", "ninguna", "ninguno", "jamás", "tampoco",
];

/// Opposite poles of one idea: the same group with a different pole is a
/// different question ("increase" is not "decrease").
pub const OPPOSITES: &[(&str, &str, u8)] = &[
    ("increase", "change", 0), ("raise", "change", 0), ("grow", "change", 0),
    ("decrease", "change", 1), ("reduce", "change", 1), ("lower", "change", 1), ("shrink", "change", 1),
    ("erhöhen", "change", 0), ("verringern", "change", 1), ("augmenter", "change", 0),
    ("diminuer", "change", 1), ("réduire", "change", 1), ("aumentar", "change", 0),
    ("disminuir", "change", 1), ("reducir", "change", 1),
    ("add", "edit", 0), ("insert", "edit", 0), ("remove", "edit", 1), ("delete", "edit", 1),
    ("hinzufügen", "edit", 0), ("entfernen", "edit", 1), ("löschen", "edit", 1),
    ("ajouter", "edit", 0), ("supprimer", "edit", 1), ("añadir", "edit", 0),
    ("agregar", "edit", 0), ("eliminar", "edit", 1), ("borrar", "edit", 1),
    ("enable", "toggle", 0), ("activate", "toggle", 0), ("disable", "toggle", 1),
    ("deactivate", "toggle", 1), ("aktivieren", "toggle", 0), ("deaktivieren", "toggle", 1),
    ("activer", "toggle", 0), ("désactiver", "toggle", 1), ("activar", "toggle", 0),
    ("desactivar", "toggle", 1),
    ("encrypt", "crypt", 0), ("decrypt", "crypt", 1), ("encode", "code", 0), ("decode", "code", 1),
    ("compress", "zip", 0), ("decompress", "zip", 1), ("zip", "zip", 0), ("unzip", "zip", 1),
    ("serialize", "serial", 0), ("deserialize", "serial", 1),
    ("start", "run", 0), ("stop", "run", 1), ("open", "open", 0), ("close", "open", 1),
    ("buy", "trade", 0), ("purchase", "trade", 0), ("sell", "trade", 1),
    ("import", "port", 0), ("export", "port", 1), ("upload", "load", 0), ("download", "load", 1),
    ("push", "git", 0), ("pull", "git", 1), ("install", "install", 0), ("uninstall", "install", 1),
    ("min", "extreme", 0), ("minimum", "extreme", 0), ("smallest", "extreme", 0),
    ("lowest", "extreme", 0), ("least", "extreme", 0), ("max", "extreme", 1),
    ("maximum", "extreme", 1), ("largest", "extreme", 1), ("biggest", "extreme", 1),
    ("highest", "extreme", 1), ("most", "extreme", 1),
    ("fastest", "speed", 0), ("quickest", "speed", 0), ("slowest", "speed", 1),
    ("faster", "speed", 0), ("slower", "speed", 1),
    ("best", "quality", 0), ("worst", "quality", 1), ("better", "quality", 0), ("worse", "quality", 1),
    ("cheapest", "price", 0), ("cheap", "price", 0), ("cheaper", "price", 0),
    ("expensive", "price", 1), ("priciest", "price", 1),
    ("hot", "temp", 0), ("warm", "temp", 0), ("cold", "temp", 1), ("cool", "temp", 1),
    ("before", "time", 0), ("after", "time", 1), ("avant", "time", 0), ("après", "time", 1),
    ("antes", "time", 0), ("después", "time", 1), ("vor", "time", 0), ("nach", "time", 1),
    ("above", "vertical", 0), ("below", "vertical", 1), ("over", "vertical", 0), ("under", "vertical", 1),
    ("more", "amount", 0), ("less", "amount", 1), ("fewer", "amount", 1),
    ("ascending", "sort", 0), ("descending", "sort", 1),
    ("advantages", "merit", 0), ("pros", "merit", 0), ("benefits", "merit", 0),
    ("disadvantages", "merit", 1), ("cons", "merit", 1), ("drawbacks", "merit", 1),
    ("downsides", "merit", 1), ("vorteile", "merit", 0), ("nachteile", "merit", 1),
    ("avantages", "merit", 0), ("inconvénients", "merit", 1), ("ventajas", "merit", 0),
    ("desventajas", "merit", 1),
    ("true", "truth", 0), ("false", "truth", 1), ("positive", "sign", 0), ("negative", "sign", 1),
    ("uppercase", "case", 0), ("lowercase", "case", 1),
    ("left", "side", 0), ("right", "side", 1), ("north", "compass", 0), ("south", "compass", 1),
    ("east", "compass2", 0), ("west", "compass2", 1),
    ("merge", "join", 0), ("split", "join", 1), ("join", "join", 0),
    ("beginner", "level", 0), ("beginners", "level", 0), ("novice", "level", 0),
    ("expert", "level", 1), ("experts", "level", 1), ("advanced", "level", 1),
    ("old", "age", 0), ("older", "age", 0), ("new", "age", 1), ("newer", "age", 1),
    ("latest", "age", 1), ("oldest", "age", 0), ("newest", "age", 1),
    ("input", "io", 0), ("output", "io", 1), ("read", "rw", 0), ("write", "rw", 1),
    ("sync", "sync", 0), ("synchronous", "sync", 0), ("async", "sync", 1),
    ("asynchronous", "sync", 1), ("rows", "axis", 0), ("columns", "axis", 1),
    ("vertical", "orient", 0), ("horizontal", "orient", 1),
    ("client", "role", 0), ("server", "role", 1), ("frontend", "stack", 0), ("backend", "stack", 1),
    ("morning", "day", 0), ("evening", "day", 1), ("night", "day", 1),
    ("summer", "season", 0), ("winter", "season", 1),
    ("formal", "register", 0), ("informal", "register", 1), ("casual", "register", 1),
    ("agree", "stance", 0), ("disagree", "stance", 1), ("for", "stance", 0), ("against", "stance", 1),
    ("success", "result", 0), ("failure", "result", 1),
    ("who", "wh", 0), ("when", "wh", 1), ("where", "wh", 2), ("why", "wh", 3),
];

/// Output formats and shapes; the two prompts must ask for the same ones.
pub const FORMATS: &[(&str, &str)] = &[
    ("json", "json"), ("yaml", "yaml"), ("yml", "yaml"), ("xml", "xml"), ("csv", "csv"),
    ("toml", "toml"), ("markdown", "markdown"), ("html", "html"), ("table", "table"),
    ("bullet", "bullets"), ("bullets", "bullets"), ("bulleted", "bullets"),
    ("numbered", "numbered"), ("paragraph", "paragraph"),
    ("paragraphs", "paragraph"), ("sentence", "sentence"), ("sentences", "sentence"),
    ("word", "word"), ("words", "word"), ("haiku", "haiku"), ("poem", "poem"),
    ("limerick", "limerick"), ("sonnet", "sonnet"), ("essay", "essay"), ("email", "email"),
    ("tweet", "tweet"), ("code", "code"), ("snippet", "code"), ("pseudocode", "pseudocode"),
    ("diagram", "diagram"), ("outline", "outline"), ("regex", "regex"), ("sql", "sql"),
    ("tabelle", "table"), ("satz", "sentence"), ("sätze", "sentence"), ("sätzen", "sentence"),
    ("absatz", "paragraph"), ("stichpunkte", "bullets"),
    ("stichpunkten", "bullets"), ("wörter", "word"), ("wörtern", "word"), ("gedicht", "poem"),
    ("tableau", "table"), ("phrase", "sentence"), ("phrases", "sentence"),
    ("paragraphe", "paragraph"), ("mots", "word"), ("poème", "poem"), ("puces", "bullets"),
    ("tabla", "table"), ("frase", "sentence"), ("frases", "sentence"),
    ("oración", "sentence"), ("párrafo", "paragraph"),
    ("palabras", "word"), ("poema", "poem"), ("viñetas", "bullets"),
];

/// Length and depth of the answer asked for.
pub const SCOPES: &[(&str, &str)] = &[
    ("brief", "short"), ("briefly", "short"), ("short", "short"), ("shortly", "short"),
    ("concise", "short"), ("concisely", "short"), ("quick", "short"), ("summary", "short"),
    ("summarize", "short"), ("tldr", "short"), ("kurz", "short"), ("kurze", "short"),
    ("bref", "short"), ("brève", "short"), ("brièvement", "short"), ("breve", "short"),
    ("brevemente", "short"), ("resumen", "short"), ("résumé", "short"),
    ("detailed", "long"), ("detail", "long"), ("thorough", "long"), ("thoroughly", "long"),
    ("comprehensive", "long"), ("depth", "long"), ("elaborate", "long"), ("long", "long"),
    ("ausführlich", "long"), ("ausführliche", "long"), ("détaillé", "long"),
    ("détaillée", "long"), ("detallado", "long"), ("detallada", "long"),
];

/// Names written in lower case that still name one thing: programming and
/// natural languages, products, platforms. Values are canonical ids, so the
/// same language named in another language still matches.
pub const NAMES: &[(&str, &str)] = &[
    ("python", "python"), ("rust", "rust"), ("java", "java"), ("javascript", "javascript"),
    ("js", "javascript"), ("typescript", "typescript"), ("ts", "typescript"),
    ("golang", "go"), ("ruby", "ruby"), ("php", "php"), ("kotlin", "kotlin"),
    ("swift", "swift"), ("scala", "scala"), ("haskell", "haskell"), ("perl", "perl"),
    ("bash", "bash"), ("c", "c"), ("c++", "cpp"), ("cpp", "cpp"), ("c#", "csharp"),
    ("css", "css"), ("docker", "docker"), ("kubernetes", "kubernetes"), ("k8s", "kubernetes"),
    ("linux", "linux"), ("windows", "windows"), ("macos", "macos"), ("mac", "macos"),
    ("ubuntu", "ubuntu"), ("debian", "debian"), ("android", "android"), ("ios", "ios"),
    ("iphone", "iphone"), ("ipad", "ipad"), ("pixel", "pixel"), ("samsung", "samsung"),
    ("excel", "excel"), ("postgres", "postgres"), ("postgresql", "postgres"),
    ("mysql", "mysql"), ("sqlite", "sqlite"), ("mongodb", "mongodb"), ("redis", "redis"),
    ("react", "react"), ("vue", "vue"), ("angular", "angular"), ("django", "django"),
    ("flask", "flask"), ("git", "git"), ("github", "github"), ("aws", "aws"),
    ("azure", "azure"), ("gcp", "gcp"), ("chrome", "chrome"), ("firefox", "firefox"),
    ("safari", "safari"), ("nginx", "nginx"), ("apache", "apache"), ("node", "node"),
    ("npm", "npm"), ("pip", "pip"), ("cargo", "cargo"), ("vim", "vim"), ("emacs", "emacs"),
    ("bitcoin", "bitcoin"), ("ethereum", "ethereum"),
    ("english", "lang:en"), ("englisch", "lang:en"), ("anglais", "lang:en"), ("inglés", "lang:en"),
    ("french", "lang:fr"), ("französisch", "lang:fr"), ("français", "lang:fr"), ("francés", "lang:fr"),
    ("german", "lang:de"), ("deutsch", "lang:de"), ("allemand", "lang:de"), ("alemán", "lang:de"),
    ("spanish", "lang:es"), ("spanisch", "lang:es"), ("espagnol", "lang:es"), ("español", "lang:es"),
    ("italian", "lang:it"), ("italienisch", "lang:it"), ("italien", "lang:it"), ("italiano", "lang:it"),
    ("portuguese", "lang:pt"), ("portugiesisch", "lang:pt"), ("portugais", "lang:pt"),
    ("portugués", "lang:pt"), ("chinese", "lang:zh"), ("chinesisch", "lang:zh"),
    ("chinois", "lang:zh"), ("chino", "lang:zh"), ("japanese", "lang:ja"),
    ("japanisch", "lang:ja"), ("japonais", "lang:ja"), ("japonés", "lang:ja"),
    ("russian", "lang:ru"), ("russisch", "lang:ru"), ("russe", "lang:ru"), ("ruso", "lang:ru"),
    ("englische", "lang:en"), ("englischen", "lang:en"), ("deutsche", "lang:de"),
    ("deutschen", "lang:de"), ("französische", "lang:fr"), ("französischen", "lang:fr"),
    ("spanische", "lang:es"), ("spanischen", "lang:es"), ("italienische", "lang:it"),
    ("dutch", "lang:nl"), ("korean", "lang:ko"), ("arabic", "lang:ar"), ("hindi", "lang:hi"),
    ("celsius", "unit:c"), ("fahrenheit", "unit:f"), ("kelvin", "unit:k"),
    ("miles", "unit:mi"), ("mile", "unit:mi"), ("kilometers", "unit:km"), ("kilometres", "unit:km"),
    ("km", "unit:km"), ("meters", "unit:m"), ("metres", "unit:m"), ("feet", "unit:ft"),
    ("foot", "unit:ft"), ("inches", "unit:in"), ("inch", "unit:in"), ("cm", "unit:cm"),
    ("centimeters", "unit:cm"), ("pounds", "unit:lb"), ("lbs", "unit:lb"), ("kilograms", "unit:kg"),
    ("kg", "unit:kg"), ("grams", "unit:g"), ("ounces", "unit:oz"), ("cups", "unit:cup"),
    ("liters", "unit:l"), ("litres", "unit:l"), ("gallons", "unit:gal"),
    ("dollars", "cur:usd"), ("dollar", "cur:usd"), ("usd", "cur:usd"), ("euros", "cur:eur"),
    ("euro", "cur:eur"), ("eur", "cur:eur"), ("yen", "cur:jpy"), ("jpy", "cur:jpy"),
    ("gbp", "cur:gbp"), ("sterling", "cur:gbp"), ("yuan", "cur:cny"),
    ("seconds", "unit:s"), ("minutes", "unit:min"), ("hours", "unit:h"), ("days", "unit:d"),
    ("weeks", "unit:wk"), ("months", "unit:mo"), ("years", "unit:yr"),
    ("binary", "base:2"), ("decimal", "base:10"), ("hexadecimal", "base:16"), ("hex", "base:16"),
    ("octal", "base:8"),
];

/// Words that mark a direction, so the order of names matters ("A to B").
pub const DIRECTION_CUES: &[&str] = &[
    "to", "into", "from", "->", "→", "nach", "ins", "zu", "von", "vers", "en", "à",
    "a", "al", "hacia", "desde", "than", "als", "que", "over", "vs", "versus",
];

/// German function words: a prompt with one is German, where every noun is
/// capitalized, so capitals say nothing about names.
pub const GERMAN_MARKERS: &[&str] = &[
    "der", "das", "und", "ist", "wie", "ich", "nicht", "mit", "für", "ein", "eine", "einen",
    "mir", "mein", "meine", "meinen", "auf", "dem", "zu", "welche", "welcher", "welches",
    "kann", "kannst", "bitte", "gib", "wer", "wieso", "warum", "unter", "sind", "du", "dir",
    "dich", "mich", "vom", "zum", "zur", "aus", "bei", "über", "muss", "viele", "einem",
    "einer", "damit", "nenne", "erkläre", "schreibe", "versteht", "wird", "werden", "oder",
];

/// Words skipped when looking for what a negation applies to, and words too
/// common to be names even when capitalized.
pub const STOPWORDS: &[&str] = &[
    "a", "an", "the", "any", "some", "of", "to", "for", "in", "on", "at", "by", "and", "or",
    "with", "use", "using", "used", "add", "adding", "include", "including", "put", "have",
    "having", "want", "contain", "containing", "need", "be", "is", "are", "do", "does",
    "make", "it", "them", "that", "this", "my", "your", "me", "i", "you", "we", "our",
    "mention", "mentioning", "get", "got", "at", "all", "single", "should", "will", "can",
    "please", "how", "what", "which", "der", "die", "das", "den", "dem", "ein", "eine",
    "einen", "mit", "und", "le", "la", "les", "un", "une", "des", "du", "avec", "et",
    "el", "los", "las", "uno", "una", "con", "y", "de", "ne", "n't",
];
