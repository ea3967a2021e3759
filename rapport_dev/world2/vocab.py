"""The second world's vocabulary, written apart from ``rapport_dev/seed`` on purpose.

Subjects (what a creator is *about*), markets (where a brief sells), words in six languages.
Nothing here is shared with the seed generator: other subjects, other slugs, other words,
other markets, so a ranking tuned on one world meets unseen text on the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subject:
    slug: str
    family: str  # subjects of one family are "related" (grade 1 at most for each other)
    topics: tuple[str, ...]  # slugs a creator declares and a brief names
    words: dict[str, tuple[str, ...]]  # language -> words of captions and briefs
    platforms: dict[str, float]  # platform -> weight
    ages: tuple[float, ...]  # 13-17, 18-24, 25-34, 35-44, 45-54, 55+ (relative)
    female: float
    category: str  # brand category that briefs this subject


_PHOTO = {"instagram": 5.0, "tiktok": 3.0, "youtube": 1.5, "blog": 0.8}
_CLIPS = {"tiktok": 5.0, "instagram": 3.0, "youtube": 2.5}
_LONG = {"youtube": 5.0, "podcast": 2.0, "blog": 2.0, "instagram": 1.5, "x": 1.0}
_PLAY = {"twitch": 5.0, "youtube": 4.0, "tiktok": 1.5, "x": 1.0}

_YOUNG = (12.0, 38.0, 30.0, 12.0, 6.0, 2.0)
_ADULT = (2.0, 20.0, 36.0, 24.0, 12.0, 6.0)
_OLDER = (0.5, 7.0, 22.0, 30.0, 24.0, 16.5)

SUBJECTS: tuple[Subject, ...] = (
    Subject("bouldering", "outdoor", ("bouldering", "climbing"), {
        "en": ("boulder", "crimp", "chalk", "overhang", "beta", "send", "problem", "gym"),
        "es": ("escalada", "bloque", "magnesio", "presa", "desplome", "encadenar", "rocódromo"),
        "de": ("bouldern", "klettern", "griff", "überhang", "kreide", "halle", "projekt"),
        "fr": ("escalade", "bloc", "magnésie", "prise", "dévers", "salle", "croux"),
        "pt": ("escalada", "boulder", "agarra", "magnésio", "negativo", "ginásio"),
        "it": ("arrampicata", "blocco", "presa", "strapiombo", "magnesite", "palestra"),
    }, _CLIPS, _YOUNG, 0.38, "outdoor-gear"),
    Subject("trail-ultras", "outdoor", ("ultrarunning", "trail-running"), {
        "en": ("ultra", "trail", "elevation", "aidstation", "vert", "singletrack", "pacing"),
        "es": ("ultra", "sendero", "desnivel", "avituallamiento", "montaña", "zancada"),
        "de": ("ultralauf", "trail", "höhenmeter", "verpflegung", "berglauf", "ausdauer"),
        "fr": ("ultratrail", "sentier", "dénivelé", "ravitaillement", "montagne", "foulée"),
        "pt": ("ultramaratona", "trilha", "altimetria", "abastecimento", "serra"),
        "it": ("ultratrail", "sentiero", "dislivello", "ristoro", "montagna", "falcata"),
    }, _PHOTO, _ADULT, 0.42, "sportswear"),
    Subject("birding", "outdoor", ("birdwatching", "wildlife"), {
        "en": ("warbler", "binoculars", "heron", "migration", "wetland", "owl", "sighting"),
        "es": ("aves", "prismáticos", "garza", "migración", "humedal", "búho", "avistamiento"),
        "de": ("vögel", "fernglas", "reiher", "vogelzug", "feuchtgebiet", "eule"),
        "fr": ("oiseaux", "jumelles", "héron", "migration", "zone-humide", "chouette"),
        "pt": ("aves", "binóculos", "garça", "migração", "pantanal", "coruja"),
        "it": ("uccelli", "binocolo", "airone", "migrazione", "palude", "gufo"),
    }, _LONG, _OLDER, 0.47, "optics"),
    Subject("van-life", "travel", ("vanlife", "road-trips"), {
        "en": ("campervan", "conversion", "offgrid", "solar", "roadtrip", "campsite", "nomad"),
        "es": ("furgoneta", "camper", "ruta", "acampada", "placa-solar", "nómada"),
        "de": ("camper", "ausbau", "wohnmobil", "stellplatz", "roadtrip", "autark"),
        "fr": ("fourgon", "aménagement", "van", "bivouac", "roadtrip", "autonomie"),
        "pt": ("motorhome", "kombi", "estrada", "acampamento", "nômade"),
        "it": ("camper", "furgone", "viaggio", "sosta", "pannello", "nomade"),
    }, _PHOTO, _YOUNG, 0.5, "automotive"),
    Subject("backpacking", "travel", ("backpacking", "budget-travel"), {
        "en": ("hostel", "backpack", "itinerary", "layover", "visa", "budget", "border"),
        "es": ("mochilero", "albergue", "itinerario", "escala", "presupuesto", "frontera"),
        "de": ("rucksackreise", "hostel", "reiseroute", "umstieg", "budget", "grenze"),
        "fr": ("sac-à-dos", "auberge", "itinéraire", "escale", "budget", "frontière"),
        "pt": ("mochilão", "albergue", "roteiro", "escala", "orçamento", "fronteira"),
        "it": ("zaino", "ostello", "itinerario", "scalo", "budget", "confine"),
    }, _CLIPS, _YOUNG, 0.55, "travel-services"),
    Subject("sourdough", "food", ("sourdough", "bread-baking"), {
        "en": ("starter", "levain", "crumb", "proofing", "scoring", "loaf", "hydration"),
        "es": ("masa-madre", "miga", "fermentación", "hogaza", "horno", "harina"),
        "de": ("sauerteig", "krume", "gare", "laib", "backofen", "mehl", "anstellgut"),
        "fr": ("levain", "mie", "pousse", "miche", "four", "farine", "grignes"),
        "pt": ("fermento-natural", "miolo", "fermentação", "pão", "forno", "farinha"),
        "it": ("lievito-madre", "mollica", "lievitazione", "pagnotta", "forno", "farina"),
    }, _PHOTO, _ADULT, 0.66, "kitchen"),
    Subject("street-food", "food", ("street-food", "food-tours"), {
        "en": ("stall", "skewer", "taco", "noodles", "market", "vendor", "spicy"),
        "es": ("puesto", "taquería", "brocheta", "mercado", "picante", "antojitos"),
        "de": ("imbiss", "spieß", "markt", "nudeln", "scharf", "streetfood"),
        "fr": ("stand", "brochette", "marché", "nouilles", "épicé", "bouchées"),
        "pt": ("barraca", "espetinho", "feira", "pastel", "apimentado", "quitutes"),
        "it": ("bancarella", "spiedino", "mercato", "arancino", "piccante", "friggitoria"),
    }, _CLIPS, _YOUNG, 0.48, "restaurants"),
    Subject("coffee-craft", "food", ("specialty-coffee", "home-barista"), {
        "en": ("espresso", "grinder", "pourover", "crema", "roast", "portafilter", "latte"),
        "es": ("espresso", "molinillo", "tueste", "crema", "cafetera", "goteo"),
        "de": ("espresso", "mühle", "röstung", "siebträger", "filterkaffee", "crema"),
        "fr": ("expresso", "moulin", "torréfaction", "porte-filtre", "crema", "filtre"),
        "pt": ("espresso", "moedor", "torra", "coado", "crema", "barista"),
        "it": ("espresso", "macinino", "tostatura", "portafiltro", "crema", "moka"),
    }, _PHOTO, _ADULT, 0.45, "beverages"),
    Subject("houseplants", "home", ("houseplants", "urban-jungle"), {
        "en": ("monstera", "repotting", "pothos", "propagation", "humidity", "fern", "soil"),
        "es": ("monstera", "trasplante", "potus", "esqueje", "humedad", "helecho"),
        "de": ("zimmerpflanzen", "umtopfen", "ableger", "monstera", "farn", "erde"),
        "fr": ("plantes", "rempotage", "bouture", "monstera", "fougère", "terreau"),
        "pt": ("plantas", "replantio", "muda", "costela-de-adão", "samambaia"),
        "it": ("piante", "rinvaso", "talea", "monstera", "felce", "terriccio"),
    }, _PHOTO, _ADULT, 0.74, "garden"),
    Subject("woodworking", "home", ("woodworking", "diy-furniture"), {
        "en": ("dovetail", "chisel", "walnut", "workbench", "router", "joinery", "sanding"),
        "es": ("carpintería", "formón", "nogal", "banco", "ensamble", "lijado"),
        "de": ("holzwerken", "stemmeisen", "nussbaum", "hobelbank", "verbindung", "schleifen"),
        "fr": ("menuiserie", "ciseau", "noyer", "établi", "assemblage", "ponçage"),
        "pt": ("marcenaria", "formão", "nogueira", "bancada", "encaixe", "lixa"),
        "it": ("falegnameria", "scalpello", "noce", "banco", "incastro", "levigatura"),
    }, _LONG, _OLDER, 0.22, "tools"),
    Subject("skincare", "beauty", ("skincare", "skin-routine"), {
        "en": ("serum", "retinol", "sunscreen", "moisturizer", "niacinamide", "cleanser"),
        "es": ("sérum", "retinol", "protector-solar", "hidratante", "limpiador", "rutina"),
        "de": ("serum", "retinol", "sonnenschutz", "feuchtigkeitscreme", "reinigung"),
        "fr": ("sérum", "rétinol", "crème-solaire", "hydratant", "nettoyant", "routine"),
        "pt": ("sérum", "retinol", "protetor-solar", "hidratante", "limpeza"),
        "it": ("siero", "retinolo", "protezione-solare", "idratante", "detergente"),
    }, _CLIPS, _YOUNG, 0.82, "beauty"),
    Subject("thrifting", "fashion", ("thrifting", "secondhand-fashion"), {
        "en": ("vintage", "haul", "charity-shop", "denim", "upcycle", "flea", "secondhand"),
        "es": ("vintage", "segunda-mano", "rastro", "vaqueros", "reciclar", "mercadillo"),
        "de": ("vintage", "secondhand", "flohmarkt", "jeans", "upcycling", "fundstück"),
        "fr": ("friperie", "vintage", "brocante", "jean", "seconde-main", "chine"),
        "pt": ("brechó", "vintage", "garimpo", "jeans", "segunda-mão"),
        "it": ("vintage", "usato", "mercatino", "jeans", "second-hand", "riciclo"),
    }, _CLIPS, _YOUNG, 0.7, "apparel"),
    Subject("retro-gaming", "gaming", ("retro-gaming", "emulation"), {
        "en": ("cartridge", "speedrun", "pixel", "console", "arcade", "emulator", "crt"),
        "es": ("cartucho", "consola", "píxel", "recreativa", "emulador", "speedrun"),
        "de": ("modul", "konsole", "pixel", "spielhalle", "emulator", "speedrun"),
        "fr": ("cartouche", "console", "pixel", "borne", "émulateur", "speedrun"),
        "pt": ("cartucho", "console", "pixel", "fliperama", "emulador"),
        "it": ("cartuccia", "console", "pixel", "sala-giochi", "emulatore"),
    }, _PLAY, _YOUNG, 0.18, "gaming-hardware"),
    Subject("grand-strategy", "gaming", ("strategy-games", "grand-strategy"), {
        "en": ("campaign", "diplomacy", "empire", "tactics", "wargame", "turn-based"),
        "es": ("campaña", "diplomacia", "imperio", "táctica", "estrategia", "turnos"),
        "de": ("kampagne", "diplomatie", "imperium", "taktik", "strategie", "rundenbasiert"),
        "fr": ("campagne", "diplomatie", "empire", "tactique", "stratégie", "tour-par-tour"),
        "pt": ("campanha", "diplomacia", "império", "tática", "estratégia"),
        "it": ("campagna", "diplomazia", "impero", "tattica", "strategia"),
    }, _PLAY, _ADULT, 0.15, "pc-games"),
    Subject("mech-keyboards", "tech", ("mechanical-keyboards", "desk-setup"), {
        "en": ("keycaps", "switches", "lubing", "keyboard", "desk", "stabilizers", "tactile"),
        "es": ("teclado", "teclas", "interruptores", "escritorio", "lubricado", "táctil"),
        "de": ("tastatur", "tastenkappen", "schalter", "schreibtisch", "taktil"),
        "fr": ("clavier", "touches", "switchs", "bureau", "lubrification", "tactile"),
        "pt": ("teclado", "teclas", "switches", "mesa", "tátil"),
        "it": ("tastiera", "tasti", "switch", "scrivania", "tattile"),
    }, _LONG, _YOUNG, 0.2, "electronics"),
    Subject("personal-finance", "money", ("personal-finance", "investing"), {
        "en": ("index-fund", "budgeting", "dividends", "savings", "retirement", "etf"),
        "es": ("ahorro", "fondo-indexado", "dividendos", "presupuesto", "jubilación"),
        "de": ("sparen", "etf", "dividenden", "haushaltsbuch", "altersvorsorge", "depot"),
        "fr": ("épargne", "etf", "dividendes", "budget", "retraite", "placement"),
        "pt": ("poupança", "dividendos", "orçamento", "aposentadoria", "renda-fixa"),
        "it": ("risparmio", "etf", "dividendi", "budget", "pensione", "investimenti"),
    }, _LONG, _ADULT, 0.4, "fintech"),
    Subject("toddler-parenting", "family", ("parenting", "toddlers"), {
        "en": ("toddler", "naptime", "tantrum", "playdate", "potty", "bedtime", "daycare"),
        "es": ("niño", "siesta", "rabieta", "guardería", "pañal", "crianza"),
        "de": ("kleinkind", "mittagsschlaf", "trotzphase", "kita", "windel", "erziehung"),
        "fr": ("bambin", "sieste", "colère", "crèche", "couche", "parentalité"),
        "pt": ("criança", "soneca", "birra", "creche", "fralda", "maternidade"),
        "it": ("bimbo", "pisolino", "capriccio", "asilo", "pannolino", "genitori"),
    }, _PHOTO, _ADULT, 0.86, "baby-care"),
    Subject("language-learning", "education", ("language-learning", "polyglot"), {
        "en": ("vocabulary", "grammar", "fluency", "flashcards", "accent", "immersion"),
        "es": ("vocabulario", "gramática", "fluidez", "tarjetas", "acento", "inmersión"),
        "de": ("vokabeln", "grammatik", "sprachfluss", "karteikarten", "akzent"),
        "fr": ("vocabulaire", "grammaire", "aisance", "fiches", "accent", "immersion"),
        "pt": ("vocabulário", "gramática", "fluência", "sotaque", "imersão"),
        "it": ("vocabolario", "grammatica", "fluenza", "accento", "immersione"),
    }, _LONG, _YOUNG, 0.6, "edtech"),
)  # fmt: skip
SUBJECT_INDEX: dict[str, int] = {s.slug: i for i, s in enumerate(SUBJECTS)}

# Filler words of everyday captions (not about any subject), per language.
FILLER: dict[str, tuple[str, ...]] = {
    "en": ("honestly", "tonight", "finally", "crew", "vibes", "sunday", "little", "update",
           "thanks", "morning", "story", "real", "chat", "month"),
    "es": ("hoy", "gente", "por-fin", "domingo", "charla", "verdad", "pequeño", "gracias",
           "mañana", "historia", "mes", "ganas"),
    "de": ("heute", "endlich", "leute", "sonntag", "ehrlich", "kleine", "danke", "morgen",
           "geschichte", "monat", "lust"),
    "fr": ("aujourd'hui", "enfin", "dimanche", "honnêtement", "petit", "merci", "matin",
           "histoire", "mois", "envie", "copains"),
    "pt": ("hoje", "finalmente", "galera", "domingo", "sinceramente", "obrigado", "manhã",
           "história", "mês", "vontade"),
    "it": ("oggi", "finalmente", "ragazzi", "domenica", "sinceramente", "grazie", "mattina",
           "storia", "mese", "voglia"),
}  # fmt: skip

# Everyday side content (a creator's posts that are about nothing in particular).
LIFESTYLE: dict[str, tuple[str, ...]] = {
    "en": ("brunch", "sunset", "playlist", "gym", "weekend", "coffee", "outfit"),
    "es": ("brunch", "atardecer", "playlist", "finde", "café", "outfit"),
    "de": ("brunch", "sonnenuntergang", "playlist", "wochenende", "kaffee", "outfit"),
    "fr": ("brunch", "coucher", "playlist", "weekend", "café", "tenue"),
    "pt": ("brunch", "pôr-do-sol", "playlist", "fim-de-semana", "café", "look"),
    "it": ("brunch", "tramonto", "playlist", "weekend", "caffè", "outfit"),
}

# Home countries: weight, language(s), currency, market (a brief sells to one market).
HOMES: dict[str, tuple[float, tuple[str, ...], str, str]] = {
    "US": (17.0, ("en",), "USD", "en"),
    "GB": (10.0, ("en",), "GBP", "en"),
    "CA": (4.0, ("en", "fr"), "CAD", "en"),
    "AU": (4.0, ("en",), "AUD", "en"),
    "ES": (9.0, ("es",), "EUR", "es"),
    "MX": (8.0, ("es",), "MXN", "es"),
    "AR": (3.0, ("es",), "USD", "es"),
    "DE": (10.0, ("de",), "EUR", "de"),
    "AT": (2.5, ("de",), "EUR", "de"),
    "CH": (2.0, ("de", "fr"), "CHF", "de"),
    "FR": (10.0, ("fr",), "EUR", "fr"),
    "BE": (2.5, ("fr",), "EUR", "fr"),
    "BR": (9.0, ("pt",), "BRL", "pt"),
    "PT": (2.5, ("pt",), "EUR", "pt"),
    "IT": (6.5, ("it",), "EUR", "it"),
}
MARKETS: dict[str, tuple[str, ...]] = {
    "en": ("US", "GB", "CA", "AU"),
    "es": ("ES", "MX", "AR"),
    "de": ("DE", "AT", "CH"),
    "fr": ("FR", "BE", "CA"),
    "pt": ("BR", "PT"),
    "it": ("IT",),
}
# Where an honest international audience lives (language reach + big markets).
GLOBAL_AUDIENCE: tuple[str, ...] = (
    "US", "GB", "DE", "FR", "ES", "IT", "BR", "MX", "NL", "PL", "SE", "IN", "JP", "AU", "CA",
    "TR", "KR", "PH", "AR", "PT",
)  # fmt: skip
# Where bought audiences come from (click farms): far from every home market's languages.
FARM_COUNTRIES: tuple[str, ...] = ("BD", "VN", "PK", "EG", "ID", "NG", "KE", "TH")
FARM_LANGUAGES: dict[str, str] = {
    "BD": "bn", "VN": "vi", "PK": "ur", "EG": "ar", "ID": "id", "NG": "en", "KE": "sw", "TH": "th",
}  # fmt: skip
COUNTRY_LANGUAGE: dict[str, str] = {
    "US": "en", "GB": "en", "CA": "en", "AU": "en", "ES": "es", "MX": "es", "AR": "es",
    "DE": "de", "AT": "de", "CH": "de", "FR": "fr", "BE": "fr", "BR": "pt", "PT": "pt",
    "IT": "it", "NL": "nl", "PL": "pl", "SE": "sv", "IN": "hi", "JP": "ja", "TR": "tr",
    "KR": "ko", "PH": "tl", **FARM_LANGUAGES,
}  # fmt: skip

FIRST_NAMES: tuple[str, ...] = (
    "Ines", "Tobias", "Camille", "Rafael", "Greta", "Dario", "Noor", "Lucas", "Maelle", "Joao",
    "Hanna", "Matteo", "Aisha", "Bruno", "Elodie", "Pablo", "Frieda", "Caio", "Leonie", "Gianni",
    "Skye", "Marlon", "Yara", "Quentin", "Lola", "Emeka", "Rosa", "Levi", "Chiara", "Otto",
)  # fmt: skip
LAST_BITS: tuple[str, ...] = (
    "outdoors", "lab", "daily", "journal", "corner", "notes", "club", "studio", "trails",
    "kitchen", "works", "room", "life", "table", "path",
)  # fmt: skip
