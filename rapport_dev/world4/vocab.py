# ruff: noqa: RUF001 - text in thirteen languages: their letters and punctuation are meant
"""world4's vocabulary: subjects, markets, languages, brands and the words people use.

Written from the public API and PRODUCT.md only (see README.md): an outside party's idea of a
marketplace, not a copy of the other generators'."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subject:
    key: str
    family: str
    creator_slugs: tuple[str, ...]  # how creators tag themselves
    brand_slugs: tuple[str, ...]  # how brands name the same thing in a brief
    lexicon: tuple[str, ...]  # words that show up in bios, samples and briefs
    platforms: tuple[str, ...]  # where this subject lives, most likely first
    homes: tuple[str, ...] = ()  # a local scene: creators live here (else anywhere)
    ages: tuple[str, ...] = ("25-34", "35-44")  # the audience's main age bands
    female: float = 0.5  # the audience's female share
    brand_categories: tuple[str, ...] = ()


S = Subject
SUBJECTS: tuple[Subject, ...] = (
    # niche hobbies
    S(
        "birding",
        "hobbies",
        ("birding", "birdwatching", "bird-photography"),
        ("birdwatching", "wildlife-optics", "nature-watching"),
        ("binoculars", "warbler", "migration", "field guide", "spotting scope", "bird hide"),
        ("youtube", "instagram", "blog"),
        ages=("35-44", "45-54", "55+"),
        female=0.45,
        brand_categories=("optics", "outdoor-gear"),
    ),
    S(
        "keyboards",
        "hobbies",
        ("mechanical-keyboards", "keyboards", "custom-keyboards"),
        ("keyboard-enthusiasts", "desk-setup", "mechanical-keyboards"),
        ("switches", "keycaps", "lubing", "tactile", "gasket mount", "PCB"),
        ("youtube", "tiktok", "instagram"),
        ages=("18-24", "25-34"),
        female=0.2,
        brand_categories=("consumer-electronics",),
    ),
    S(
        "miniatures",
        "hobbies",
        ("miniature-painting", "wargaming", "tabletop"),
        ("hobby-paints", "tabletop-gaming", "miniatures"),
        ("airbrush", "primer", "wash", "dry brushing", "basing", "minis"),
        ("youtube", "instagram", "twitch"),
        ages=("18-24", "25-34", "35-44"),
        female=0.25,
        brand_categories=("hobby-supplies",),
    ),
    S(
        "flyfishing",
        "hobbies",
        ("fly-fishing", "fly-tying", "angling"),
        ("fishing-gear", "fly-fishing", "outdoor-anglers"),
        ("nymph", "tippet", "dry fly", "trout", "casting", "river"),
        ("youtube", "instagram", "blog"),
        ages=("35-44", "45-54", "55+"),
        female=0.15,
        brand_categories=("outdoor-gear",),
    ),
    S(
        "astronomy",
        "hobbies",
        ("astronomy", "astrophotography", "stargazing"),
        ("telescopes", "night-sky", "astrophotography"),
        ("telescope", "nebula", "Messier", "dark sky", "tracking mount", "eyepiece"),
        ("youtube", "instagram", "blog"),
        ages=("25-34", "35-44", "45-54"),
        female=0.3,
        brand_categories=("optics", "consumer-electronics"),
    ),
    S(
        "beekeeping",
        "hobbies",
        ("beekeeping", "bees", "apiculture"),
        ("urban-beekeeping", "honey", "pollinators"),
        ("hive", "queen", "varroa", "smoker", "frames", "swarm"),
        ("youtube", "instagram", "blog"),
        ages=("35-44", "45-54", "55+"),
        female=0.45,
        brand_categories=("garden-supplies", "food"),
    ),
    S(
        "knitting",
        "hobbies",
        ("knitting", "yarn", "crochet"),
        ("yarn-crafts", "hand-knitting", "fiber-arts"),
        ("yarn", "stitch", "pattern", "merino", "cable knit", "needles"),
        ("instagram", "youtube", "tiktok"),
        ages=("25-34", "35-44", "45-54"),
        female=0.85,
        brand_categories=("hobby-supplies",),
    ),
    # professional / B2B
    S(
        "saas-sales",
        "business",
        ("saas", "b2b-sales", "sales-leadership"),
        ("revenue-teams", "b2b-sales", "crm"),
        ("pipeline", "cold outreach", "quota", "SDR", "CRM", "demo calls"),
        ("x", "podcast", "youtube", "blog"),
        ages=("25-34", "35-44"),
        female=0.35,
        brand_categories=("software",),
    ),
    S(
        "cybersecurity",
        "business",
        ("cybersecurity", "infosec", "ethical-hacking"),
        ("security-awareness", "infosec", "zero-trust"),
        ("phishing", "pentest", "CVE", "ransomware", "SOC", "MFA"),
        ("youtube", "x", "podcast", "blog"),
        ages=("25-34", "35-44"),
        female=0.2,
        brand_categories=("software",),
    ),
    S(
        "freelance-tax",
        "business",
        ("freelance-finance", "taxes", "accounting"),
        ("small-business-accounting", "invoicing", "tax-filing"),
        ("invoices", "VAT", "deductions", "bookkeeping", "receipts", "tax return"),
        ("youtube", "instagram", "podcast", "blog"),
        ages=("25-34", "35-44"),
        female=0.55,
        brand_categories=("software", "fintech"),
    ),
    S(
        "data-eng",
        "business",
        ("data-engineering", "sql", "analytics"),
        ("data-platform", "analytics-engineering", "cloud-data"),
        ("pipelines", "dbt", "warehouse", "SQL", "dashboards", "ETL"),
        ("youtube", "x", "blog", "podcast"),
        ages=("25-34", "35-44"),
        female=0.25,
        brand_categories=("software",),
    ),
    S(
        "recruiting",
        "business",
        ("recruiting", "hr", "careers"),
        ("talent-acquisition", "employer-branding", "hiring"),
        ("interviews", "CV", "onboarding", "hiring manager", "job offer", "salary talks"),
        ("tiktok", "instagram", "podcast", "youtube"),
        ages=("18-24", "25-34", "35-44"),
        female=0.6,
        brand_categories=("software", "education"),
    ),
    # local food scenes
    S(
        "ramen",
        "food",
        ("ramen", "tokyo-food", "noodles"),
        ("ramen", "japanese-noodles", "tokyo-eats"),
        ("tonkotsu", "shoyu", "chashu", "noodle shop", "broth", "ramen-ya"),
        ("youtube", "instagram", "tiktok"),
        homes=("JP",),
        ages=("18-24", "25-34"),
        female=0.4,
        brand_categories=("food", "beverages"),
    ),
    S(
        "tacos",
        "food",
        ("tacos", "cdmx-food", "street-food-mx"),
        ("mexican-street-food", "tacos", "taqueria"),
        ("al pastor", "salsa verde", "tortillas", "taqueria", "suadero", "mercado"),
        ("tiktok", "instagram", "youtube"),
        homes=("MX",),
        ages=("18-24", "25-34"),
        female=0.5,
        brand_categories=("food", "beverages"),
    ),
    S(
        "pizza",
        "food",
        ("pizza-napoletana", "pizza", "naples-food"),
        ("wood-fired-pizza", "pizza", "italian-food"),
        ("cornicione", "fior di latte", "forno a legna", "impasto", "margherita", "lievito"),
        ("instagram", "tiktok", "youtube"),
        homes=("IT",),
        ages=("25-34", "35-44"),
        female=0.45,
        brand_categories=("food", "kitchen-appliances"),
    ),
    S(
        "korean-street",
        "food",
        ("seoul-food", "korean-street-food", "mukbang"),
        ("korean-food", "k-food", "street-snacks"),
        ("tteokbokki", "hotteok", "pojangmacha", "gimbap", "night market", "odeng"),
        ("youtube", "tiktok", "instagram"),
        homes=("KR",),
        ages=("13-17", "18-24", "25-34"),
        female=0.55,
        brand_categories=("food", "beverages"),
    ),
    S(
        "pastelaria",
        "food",
        ("pastelaria", "lisbon-food", "pasteis-de-nata"),
        ("portuguese-bakery", "pastries", "lisbon-eats"),
        ("pastel de nata", "pastelaria", "bica", "massa folhada", "canela", "padaria"),
        ("instagram", "tiktok", "blog"),
        homes=("PT", "BR"),
        ages=("25-34", "35-44"),
        female=0.6,
        brand_categories=("food", "beverages"),
    ),
    S(
        "vegan-berlin",
        "food",
        ("vegan-berlin", "plant-based", "vegan-food"),
        ("plant-based-food", "vegan", "meat-alternatives"),
        ("tofu", "seitan", "plant-based", "brunch", "Spaeti", "oat milk"),
        ("instagram", "tiktok", "youtube"),
        homes=("DE",),
        ages=("18-24", "25-34"),
        female=0.65,
        brand_categories=("food", "beverages"),
    ),
    S(
        "mumbai-street",
        "food",
        ("mumbai-food", "street-food-india", "chaat"),
        ("indian-snacks", "street-food", "desi-food"),
        ("vada pav", "pav bhaji", "chaat", "chutney", "tiffin", "masala"),
        ("youtube", "instagram", "tiktok"),
        homes=("IN",),
        ages=("18-24", "25-34"),
        female=0.45,
        brand_categories=("food", "beverages"),
    ),
    # parenting
    S(
        "newborn-sleep",
        "parenting",
        ("newborn", "baby-sleep", "new-parents"),
        ("infant-care", "baby-sleep", "new-parents"),
        ("swaddle", "nap schedule", "night feeds", "white noise", "cot", "sleep regression"),
        ("instagram", "tiktok", "podcast"),
        ages=("25-34", "35-44"),
        female=0.85,
        brand_categories=("baby-products", "baby-formula"),
    ),
    S(
        "homeschool",
        "parenting",
        ("homeschooling", "home-education", "unschooling"),
        ("learning-at-home", "education", "kids-learning"),
        ("curriculum", "worksheets", "phonics", "field trip", "reading log", "math games"),
        ("youtube", "instagram", "blog"),
        ages=("25-34", "35-44"),
        female=0.8,
        brand_categories=("education", "toys"),
    ),
    S(
        "neurodivergent-kids",
        "parenting",
        ("adhd-parenting", "autism-family", "special-needs-parenting"),
        ("inclusive-parenting", "neurodiversity", "sensory-play"),
        ("sensory", "IEP", "routine", "meltdown", "stimming", "occupational therapy"),
        ("instagram", "tiktok", "podcast"),
        ages=("25-34", "35-44"),
        female=0.8,
        brand_categories=("toys", "education"),
    ),
    S(
        "toddler-food",
        "parenting",
        ("toddler-meals", "baby-led-weaning", "kids-food"),
        ("kids-nutrition", "family-meals", "baby-food"),
        ("finger foods", "purees", "lunchbox", "picky eater", "BLW", "snack ideas"),
        ("instagram", "tiktok", "blog"),
        ages=("25-34", "35-44"),
        female=0.85,
        brand_categories=("baby-products", "food", "baby-formula"),
    ),
    # money
    S(
        "fire",
        "money",
        ("fire", "index-funds", "early-retirement"),
        ("investing", "wealth-building", "etf"),
        ("ETF", "savings rate", "index fund", "compound interest", "portfolio", "withdrawal rate"),
        ("youtube", "podcast", "x", "tiktok"),
        ages=("25-34", "35-44"),
        female=0.35,
        brand_categories=("fintech", "crypto"),
    ),
    S(
        "budgeting",
        "money",
        ("budgeting", "student-money", "frugal-living"),
        ("money-management", "budget-app", "young-money"),
        ("budget", "envelope method", "rent", "groceries", "side hustle", "savings goal"),
        ("tiktok", "instagram", "youtube"),
        ages=("18-24", "25-34"),
        female=0.6,
        brand_categories=("fintech",),
    ),
    S(
        "real-estate",
        "money",
        ("real-estate", "property-investing", "first-home"),
        ("mortgages", "home-buying", "property"),
        ("mortgage", "down payment", "rental yield", "viewing", "renovation", "interest rate"),
        ("youtube", "instagram", "podcast"),
        ages=("25-34", "35-44", "45-54"),
        female=0.45,
        brand_categories=("fintech", "real-estate-services"),
    ),
    S(
        "dividends",
        "money",
        ("dividends", "stock-market", "passive-income"),
        ("brokerage", "dividend-stocks", "trading-app"),
        ("dividend yield", "payout", "stocks", "brokerage", "reinvest", "ex-dividend"),
        ("youtube", "x", "podcast"),
        ages=("25-34", "35-44", "45-54"),
        female=0.3,
        brand_categories=("fintech", "crypto"),
    ),
    # getting around
    S(
        "bike-commute",
        "mobility",
        ("bike-commuting", "urban-cycling", "cargo-bike"),
        ("e-bikes", "city-mobility", "cycling"),
        ("cargo bike", "bike lane", "panniers", "commute", "e-bike", "rain gear"),
        ("youtube", "instagram", "tiktok"),
        ages=("25-34", "35-44"),
        female=0.45,
        brand_categories=("mobility", "outdoor-gear"),
    ),
    S(
        "vanlife",
        "mobility",
        ("vanlife", "van-conversion", "overlanding"),
        ("camper-vans", "road-trips", "off-grid"),
        ("camper", "solar panel", "conversion", "campsite", "roof tent", "road trip"),
        ("youtube", "instagram", "tiktok"),
        ages=("25-34", "35-44"),
        female=0.45,
        brand_categories=("mobility", "outdoor-gear", "travel"),
    ),
    S(
        "accessible-travel",
        "mobility",
        ("accessible-travel", "wheelchair-travel", "disability"),
        ("inclusive-travel", "accessible-tourism", "mobility-aids"),
        (
            "wheelchair",
            "step-free",
            "accessible hotel",
            "ramp",
            "travel tips",
            "airport assistance",
        ),
        ("instagram", "youtube", "blog"),
        ages=("25-34", "35-44", "45-54"),
        female=0.55,
        brand_categories=("travel", "mobility"),
    ),
)
SUBJECT = {s.key: s for s in SUBJECTS}
FAMILY_SLUG = {
    "hobbies": "hobbies",
    "business": "business",
    "food": "food",
    "parenting": "parenting",
    "money": "personal-finance",
    "mobility": "travel",
}


@dataclass(frozen=True)
class Market:
    country: str
    languages: tuple[str, ...]  # spoken there, main first
    currency: str
    weight: float  # how many creators live there
    near: tuple[str, ...]  # where a local audience spills over


MARKETS: tuple[Market, ...] = (
    Market("US", ("en",), "USD", 14, ("CA", "GB", "MX")),
    Market("GB", ("en",), "GBP", 7, ("IE", "US", "AU")),
    Market("DE", ("de",), "EUR", 8, ("AT", "CH", "NL")),
    Market("FR", ("fr",), "EUR", 6, ("BE", "CH", "CA")),
    Market("ES", ("es",), "EUR", 5, ("MX", "AR", "PT")),
    Market("MX", ("es",), "MXN", 5, ("US", "CO", "ES")),
    Market("BR", ("pt",), "BRL", 6, ("PT", "US", "AR")),
    Market("PT", ("pt",), "EUR", 3, ("BR", "ES", "FR")),
    Market("IT", ("it",), "EUR", 5, ("CH", "DE", "FR")),
    Market("JP", ("ja",), "JPY", 6, ("TW", "KR", "US")),
    Market("KR", ("ko",), "KRW", 4, ("JP", "US", "TW")),
    Market("IN", ("hi", "en"), "INR", 7, ("AE", "GB", "US")),
    Market("NL", ("nl",), "EUR", 3, ("BE", "DE", "GB")),
    Market("SE", ("sv",), "SEK", 2, ("NO", "DK", "FI")),
    Market("PL", ("pl",), "PLN", 3, ("DE", "GB", "CZ")),
    Market("CA", ("en", "fr"), "CAD", 3, ("US", "FR", "GB")),
    Market("AU", ("en",), "AUD", 3, ("NZ", "GB", "US")),
    Market("TR", ("tr",), "USD", 2, ("DE", "NL", "AZ")),
)
MARKET = {m.country: m for m in MARKETS}
# Languages of audience countries that are not creator markets.
EXTRA_LANG = {
    "IE": "en",
    "AT": "de",
    "CH": "de",
    "BE": "fr",
    "AR": "es",
    "CO": "es",
    "TW": "zh",
    "AE": "ar",
    "NO": "no",
    "DK": "da",
    "FI": "fi",
    "CZ": "cs",
    "NZ": "en",
    "AZ": "az",
    "BD": "bn",
    "PK": "ur",
    "ID": "id",
    "VN": "vi",
    "NG": "en",
    "EG": "ar",
    "PH": "en",
}
# Diaspora ties: a creator at home in the first country with a large audience in the second
# (language shared with the second country). Honest and valuable, never a fraud signal.
DIASPORA: tuple[tuple[str, str, str], ...] = (
    ("DE", "TR", "tr"),  # Turkish-German creators
    ("US", "MX", "es"),  # Mexican-American creators
    ("GB", "IN", "hi"),  # British-Indian creators
    ("US", "KR", "ko"),  # Korean-American creators
    ("GB", "PL", "pl"),  # Polish creators in the UK
    ("PT", "BR", "pt"),  # Brazilians in Lisbon
    ("FR", "CA", "fr"),
    ("NL", "TR", "tr"),
)
# Where bought followers come from: click farms, none of them a creator market here.
FARMS: tuple[str, ...] = ("BD", "PK", "ID", "VN", "NG", "EG", "PH")

# 1 unit of the currency in US dollars (a fixed, latent exchange rate of this world).
USD_PER = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "CAD": 0.73,
    "AUD": 0.66,
    "MXN": 0.055,
    "BRL": 0.19,
    "INR": 0.012,
    "JPY": 0.0068,
    "KRW": 0.00074,
    "SEK": 0.095,
    "PLN": 0.25,
}
MINOR = {"JPY": 0, "KRW": 0}

# US dollars per 1,000 followers for one deliverable of a typical creator (latent prices).
USD_PER_1K = {
    "instagram_post": 8.0,
    "instagram_reel": 11.0,
    "instagram_story": 3.5,
    "tiktok_video": 5.0,
    "youtube_video": 18.0,
    "youtube_short": 6.0,
    "twitch_stream": 5.0,
    "x_post": 2.0,
    "blog_post": 10.0,
    "podcast_mention": 22.0,
}
MIN_FEE_USD = {
    "instagram_post": 60,
    "instagram_reel": 90,
    "instagram_story": 30,
    "tiktok_video": 50,
    "youtube_video": 250,
    "youtube_short": 60,
    "twitch_stream": 60,
    "x_post": 30,
    "blog_post": 120,
    "podcast_mention": 80,
}
PLATFORM_TYPES = {
    "instagram": ("instagram_reel", "instagram_post", "instagram_story"),
    "tiktok": ("tiktok_video",),
    "youtube": ("youtube_video", "youtube_short"),
    "twitch": ("twitch_stream",),
    "x": ("x_post",),
    "blog": ("blog_post",),
    "podcast": ("podcast_mention",),
}
PLATFORM_URL = {
    "instagram": "https://www.instagram.com/{h}/",
    "tiktok": "https://www.tiktok.com/@{h}",
    "youtube": "https://www.youtube.com/@{h}",
    "twitch": "https://www.twitch.tv/{h}",
    "x": "https://x.com/{h}",
    "blog": "https://{h}.blog.example",
    "podcast": "https://podcasts.example/{h}",
}

FIRST = {
    "en": ("Ava", "Noah", "Priya", "Liam", "Chloe", "Marcus", "Hannah", "Theo", "Zara", "Owen"),
    "de": ("Lena", "Jonas", "Mia", "Felix", "Emre", "Anja", "Tobias", "Selin", "Paul", "Greta"),
    "fr": ("Camille", "Hugo", "Léa", "Mathis", "Inès", "Louis", "Chloé", "Yanis", "Manon"),
    "es": ("Lucía", "Mateo", "Sofía", "Diego", "Valeria", "Javier", "Camila", "Andrés"),
    "pt": ("Beatriz", "João", "Mariana", "Pedro", "Larissa", "Tiago", "Ana", "Rafael"),
    "it": ("Giulia", "Marco", "Chiara", "Luca", "Francesca", "Matteo", "Elena", "Davide"),
    "ja": ("Yuki", "Haruto", "Sakura", "Ren", "Aoi", "Sota", "Hina", "Kaito"),
    "ko": ("Jiwoo", "Minjun", "Seoyeon", "Doyun", "Hayoon", "Jihoon", "Sua", "Yejin"),
    "hi": ("Aarav", "Ananya", "Rohan", "Isha", "Vikram", "Meera", "Kabir", "Diya"),
    "nl": ("Sanne", "Daan", "Fleur", "Bram", "Lotte", "Sem", "Noor", "Jesse"),
    "sv": ("Elsa", "Oskar", "Maja", "Axel", "Saga", "Viktor", "Ebba", "Nils"),
    "pl": ("Zuzanna", "Jakub", "Julia", "Kacper", "Maja", "Szymon", "Natalia", "Bartek"),
    "tr": ("Elif", "Mert", "Zeynep", "Can", "Deniz", "Ayşe", "Emir", "Ece"),
}
LAST = {
    "en": ("Carter", "Okafor", "Nguyen", "Patel", "Brooks", "Walsh", "Reid", "Hughes"),
    "de": ("Becker", "Yilmaz", "Hoffmann", "Schulz", "Krüger", "Wagner", "Demir", "Vogel"),
    "fr": ("Moreau", "Lefèvre", "Girard", "Benali", "Fontaine", "Roux", "Mercier"),
    "es": ("García", "Hernández", "Romero", "Navarro", "Ortega", "Castillo", "Ruiz"),
    "pt": ("Silva", "Costa", "Ferreira", "Almeida", "Rocha", "Carvalho", "Souza"),
    "it": ("Rossi", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Greco"),
    "ja": ("Sato", "Tanaka", "Suzuki", "Watanabe", "Ito", "Nakamura", "Kobayashi"),
    "ko": ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Yoon"),
    "hi": ("Sharma", "Iyer", "Mehta", "Nair", "Kapoor", "Reddy", "Banerjee"),
    "nl": ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Mulder", "de Boer"),
    "sv": ("Lindqvist", "Berg", "Nyström", "Holm", "Sandberg", "Ek", "Lund"),
    "pl": ("Nowak", "Kowalska", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski"),
    "tr": ("Yıldız", "Kaya", "Şahin", "Çelik", "Aydın", "Öztürk", "Arslan"),
}
# Bio and content-sample phrasing per language; {a} {b} are words of the subject's lexicon.
BIO = {
    "en": ("All about {a} and {b}. New videos every week.", "{a}, {b} and honest reviews."),
    "de": ("Alles rund um {a} und {b}. Jede Woche neu.", "{a} & {b} – ehrlich getestet."),
    "fr": ("Tout sur {a} et {b}. Nouvelle vidéo chaque semaine.", "{a}, {b} et mes avis."),
    "es": ("Todo sobre {a} y {b}. Videos nuevos cada semana.", "{a}, {b} y reseñas honestas."),
    "pt": ("Tudo sobre {a} e {b}. Vídeos novos toda semana.", "{a}, {b} e dicas sinceras."),
    "it": ("Tutto su {a} e {b}. Nuovi video ogni settimana.", "{a}, {b} e recensioni oneste."),
    "ja": ("{a}と{b}の記録。毎週更新。", "{a}・{b}が好きです。"),
    "ko": ("{a}와 {b} 이야기. 매주 업로드.", "{a}, {b} 솔직 리뷰."),
    "hi": (
        "{a} aur {b} ke baare mein sab kuch. Har hafte naya video.",
        "{a}, {b} aur asli reviews.",
    ),
    "nl": ("Alles over {a} en {b}. Elke week nieuw.", "{a}, {b} en eerlijke reviews."),
    "sv": ("Allt om {a} och {b}. Nytt varje vecka.", "{a}, {b} och ärliga tester."),
    "pl": ("Wszystko o {a} i {b}. Nowe filmy co tydzień.", "{a}, {b} i szczere recenzje."),
    "tr": ("{a} ve {b} hakkında her şey. Her hafta yeni video.", "{a}, {b} ve dürüst yorumlar."),
}
SAMPLE = {
    "en": ("My {a} routine, step by step", "Five {a} mistakes I made", "Testing {b} for a month"),
    "de": ("Meine {a}-Routine", "Fünf Fehler beim {a}", "Einen Monat {b} im Test"),
    "fr": ("Ma routine {a}", "Cinq erreurs de {a}", "Un mois avec {b}"),
    "es": ("Mi rutina de {a}", "Cinco errores con {a}", "Un mes probando {b}"),
    "pt": ("Minha rotina de {a}", "Cinco erros com {a}", "Um mês testando {b}"),
    "it": ("La mia routine di {a}", "Cinque errori con {a}", "Un mese con {b}"),
    "ja": ("{a}のルーティン", "{a}でやりがちな失敗5つ", "{b}を1か月試した"),
    "ko": ("나의 {a} 루틴", "{a} 실수 5가지", "{b} 한 달 사용기"),
    "hi": ("Meri {a} routine", "{a} mein 5 galtiyan", "Ek mahine tak {b} try kiya"),
    "nl": ("Mijn {a}-routine", "Vijf fouten met {a}", "Een maand {b} getest"),
    "sv": ("Min {a}-rutin", "Fem misstag med {a}", "En månad med {b}"),
    "pl": ("Moja rutyna {a}", "Pięć błędów z {a}", "Miesiąc z {b}"),
    "tr": ("{a} rutinim", "{a} ile yaptığım 5 hata", "Bir ay boyunca {b}"),
}
# What real audiences write: specific, in the creator's language, about the post.
REAL_COMMENTS = {
    "en": (
        "which {a} do you use?",
        "tried your {b} tip and it worked",
        "where is this?",
        "can you do a video on {a} next?",
        "the {b} part was so useful, thanks",
    ),
    "de": (
        "welches {a} nutzt du?",
        "dein Tipp zu {b} hat funktioniert",
        "wo ist das?",
        "machst du mal ein Video zu {a}?",
    ),
    "fr": (
        "tu utilises quel {a} ?",
        "ton astuce {b} marche trop bien",
        "c'est où ?",
        "une vidéo sur {a} stp",
    ),
    "es": (
        "¿qué {a} usas?",
        "probé lo de {b} y funcionó",
        "¿dónde es esto?",
        "haz uno de {a} porfa",
    ),
    "pt": (
        "qual {a} você usa?",
        "testei a dica de {b} e deu certo",
        "onde fica isso?",
        "faz um vídeo sobre {a}",
    ),
    "it": (
        "che {a} usi?",
        "ho provato il consiglio su {b}",
        "dov'è questo posto?",
        "fai un video su {a}",
    ),
    "ja": (
        "{a}はどこのですか？",
        "{b}のコツ試しました！",
        "これどこですか",
        "{a}の動画もっと見たい",
    ),
    "ko": ("{a} 어디 거예요?", "{b} 팁 해봤는데 좋아요", "여기 어디예요?", "{a} 영상 더 해주세요"),
    "hi": (
        "kaunsa {a} use karte ho?",
        "{b} wala tip kaam kar gaya",
        "ye kahan hai?",
        "{a} pe video banao please",
    ),
    "nl": ("welke {a} gebruik je?", "je tip over {b} werkte", "waar is dit?"),
    "sv": ("vilken {a} använder du?", "ditt tips om {b} funkade", "var är detta?"),
    "pl": ("jakiego {a} używasz?", "twoja rada o {b} zadziałała", "gdzie to jest?"),
    "tr": ("hangi {a} kullanıyorsun?", "{b} tüyosu işe yaradı", "burası neresi?"),
}
# What pods, bots and bought engagement write: generic, interchangeable, often English.
GENERIC_COMMENTS = (
    "Great content!",
    "Amazing 🔥🔥🔥",
    "Love this so much",
    "Nice post 👏",
    "Wow 😍",
    "Awesome!!",
    "So inspiring",
    "Keep it up 💯",
    "Beautiful ❤️",
    "🔥🔥",
    "👏👏👏",
    "Great post, check my page",
    "DM us to collab 📩",
    "Promote it on @growthpage",
    "Nice feed! Send pic to our page",
    "Cool 😎",
)
HIJACK_COMMENTS = (
    "is this account hacked??",
    "this isn't you, right?",
    "scam, don't click the link",
    "why are you posting crypto now",
    "reported",
    "unfollowing, this is a bot now",
)
HIJACK_BRANDS = ("MoonYield", "BitDouble", "FreeGiftz", "CoinRush", "LuckySpin Casino")

BRAND_NAMES = {
    "optics": ("Falkenauge Optik", "Lumen Ridge", "ClearView Scopes"),
    "outdoor-gear": ("Northline Outfitters", "Riverbend Gear", "Trailkind"),
    "consumer-electronics": ("Keystone Labs", "Pixelforge", "Nordklang"),
    "hobby-supplies": ("Brushwork Co.", "Woolly & Wren", "Tinta Hobby"),
    "garden-supplies": ("Bloomhive", "Gartenglück", "Greenyard"),
    "food": ("Mesa Viva", "Umami Works", "Forno Nostro", "Panaderia Sol", "Oatly Rivals"),
    "beverages": ("Kombu Co.", "Cafe Bica", "Soju Spring"),
    "kitchen-appliances": ("Ardente Ovens", "Fuoco Pro"),
    "software": ("Pipewise CRM", "Shieldbyte", "Ledgerly", "Stackmint", "Hirely"),
    "fintech": ("Nestegg Invest", "Kasa Budget", "Dividendo", "Hausbank Digital"),
    "crypto": ("Satoshi Street", "Blockvault"),
    "real-estate-services": ("Homefront Mortgages", "Casa Clara"),
    "baby-products": ("Little Lull", "Nido Baby", "Kinderkram"),
    "baby-formula": ("Milkway Formula", "NutriBébé"),
    "education": ("Brightpath Learning", "Aula Casa", "Skillbridge"),
    "toys": ("Sensory Sprout", "Blokje"),
    "mobility": ("Velocity Cargo", "Stadtrad E-Bikes", "Vanture Campers"),
    "travel": ("Roamfree Travel", "Open Road Tours", "Waypoint Stays"),
}
# Categories some creators refuse on principle (and that some brands are).
REFUSABLE = ("gambling", "alcohol", "crypto", "baby-formula", "fast-fashion", "tobacco")
BRIEF_TITLE = {
    "en": "{brand}: {a} with creators who know it",
    "de": "{brand}: {a} mit echten Kennern",
    "fr": "{brand} : {a} avec des passionnés",
    "es": "{brand}: {a} con quienes saben",
    "pt": "{brand}: {a} com quem entende",
    "it": "{brand}: {a} con chi se ne intende",
    "ja": "{brand}：{a}に詳しいクリエイター募集",
    "ko": "{brand}: {a} 전문 크리에이터 모집",
    "hi": "{brand}: {a} creators chahiye",
    "nl": "{brand}: {a} met kenners",
    "sv": "{brand}: {a} med kunniga kreatörer",
    "pl": "{brand}: {a} z prawdziwymi znawcami",
    "tr": "{brand}: {a} konusunda uzman içerik üreticileri",
}
BRIEF_DESCRIPTION = {
    "en": "We are looking for creators whose audience cares about {a}, {b} and {c}.",
    "de": "Wir suchen Creator, deren Publikum sich für {a}, {b} und {c} begeistert.",
    "fr": "Nous cherchons des créateurs dont l'audience aime {a}, {b} et {c}.",
    "es": "Buscamos creadores cuya audiencia ame {a}, {b} y {c}.",
    "pt": "Procuramos criadores cujo público curte {a}, {b} e {c}.",
    "it": "Cerchiamo creator il cui pubblico ama {a}, {b} e {c}.",
    "ja": "{a}、{b}、{c}に関心のあるフォロワーを持つクリエイターを探しています。",
    "ko": "{a}, {b}, {c}에 관심 있는 팔로워를 가진 크리에이터를 찾습니다.",
    "hi": "Humein aise creators chahiye jinki audience {a}, {b} aur {c} pasand karti hai.",
    "nl": "We zoeken makers met een publiek dat van {a}, {b} en {c} houdt.",
    "sv": "Vi söker kreatörer vars publik gillar {a}, {b} och {c}.",
    "pl": "Szukamy twórców, których widzowie kochają {a}, {b} i {c}.",
    "tr": "{a}, {b} ve {c} ile ilgilenen kitlesi olan içerik üreticileri arıyoruz.",
}
