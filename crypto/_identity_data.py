"""Constant tables for identifier normalisation (see samenloop.crypto.identity).

Kept apart from the rules so that a reviewer can read and extend the lists without touching
the logic. Every entry is written in plain lower case; the code normalises both the tables
and the input the same way (diacritics stripped, IJ folded), so spelling here need not be
exact. Changing a table changes the OPRF inputs, so a change means every node re-imports.
"""

from __future__ import annotations

# Voorvoegsels (tussenvoegsels) as separate words, after apostrophes are dropped: "'t" -> "t",
# "d'" -> "d". They are never part of the surname core, wherever they were typed.
TUSSENVOEGSELS: frozenset[str] = frozenset(
    """
    van de der den het t te ter ten in op aan uit bij onder over voor tot om s
    d l la le les du des del della dela di da dal do dos das
    von vom zu zum zur am auf aus im
    vd v
    """.split()
)

# Municipality and place aliases: official/common name -> other names staff type for it.
# Friesland's official Frisian names are included because both forms are in use.
PLACE_ALIASES: dict[str, tuple[str, ...]] = {
    "'s-gravenhage": ("den haag", "the hague", "gravenhage", "la haye"),
    "'s-hertogenbosch": ("den bosch", "hertogenbosch", "bois-le-duc"),
    "'s-gravendeel": ("gravendeel",),
    "'s-gravenzande": ("gravenzande",),
    "'s-heerenberg": ("heerenberg",),
    "horst aan de maas": ("horst",),
    "heerenveen": ("it hearrenfean",),
    "sneek": ("snits",),
    "leeuwarden": ("ljouwert",),
    "harlingen": ("harns",),
    "franeker": ("frjentsjer",),
    "bolsward": ("boalsert",),
    "workum": ("warkum",),
    "joure": ("de jouwer", "jouwer"),
    "grou": ("grouw",),
    "burgum": ("bergum",),
    "hindeloopen": ("hylpen",),
    "stavoren": ("starum",),
    "ijlst": ("drylts",),
    "dokkum": ("dockum",),
    "wolvega": ("wolvegea",),
    "gorredijk": ("gordyk",),
    "sudwest-fryslan": ("zuidwest-friesland", "sudwest friesland"),
    "noardeast-fryslan": ("noordoost-friesland",),
    "tytsjerksteradiel": ("tietjerksteradeel",),
    "dantumadiel": ("dantumadeel",),
    "de fryske marren": ("de friese meren",),
    "nuenen, gerwen en nederwetten": ("nuenen",),
    "bergen (nh)": ("bergen nh", "bergen noord-holland"),
    "bergen (l)": ("bergen l", "bergen limburg"),
    "groningen": ("grins", "grunn"),
    "maastricht": ("mestreech",),
    "roermond": ("remunj",),
    "nijmegen": ("nimwegen",),
    "paramaribo": ("parbo",),
    "al hoceima": ("alhucemas", "el hoceima", "al hoseima", "hoceima"),
    "tanger": ("tangier", "tangiers", "tanja"),
    "tetouan": ("tetuan", "tettawen"),
    "marrakech": ("marrakesh", "marrakesj", "marrakes"),
    "fes": ("fez",),
    "oujda": ("oudjda", "ujda"),
    "casablanca": ("dar el beida", "dar al bayda"),
    "istanbul": ("constantinopel", "stamboel"),
    "izmir": ("smyrna",),
    "antakya": ("antiochie",),
}

# Official spellings of one given name: every spelling here is one alias group (the first).
OFFICIAL_VARIANTS: tuple[tuple[str, ...], ...] = (
    ("hendrik", "hendrikus", "henricus", "henrikus", "hendricus"),
    ("cornelis", "cornelius"),
    ("adrianus", "adriaan", "adriaanus"),
    ("jacobus", "jacob", "jakobus"),
    ("nicolaas", "nicolaus", "nikolaas"),
    ("christiaan", "christianus"),
    ("gijsbertus", "gijsbert"),
    ("josephus", "jozef", "josef"),
    ("catharina", "catherina", "katharina", "catharine"),
    ("elisabeth", "elizabeth", "elisabet"),
    ("geertruida", "geertruda", "gertruda"),
    ("margaretha", "margareta", "margrieta"),
    ("petronella", "petronela", "pieternella"),
    ("wilhelmina", "willemina"),
)

# Roepnamen: official (often Latinised) given name -> short forms people go by. Only
# traditional roepnamen are listed. Modern names that are given names in their own right
# (Lisa, Ilse, Lotte, Sanne, Tess, Daan, Thijs, Bram, Sander, ...) are deliberately NOT
# linked to an official name with another initial: siblings are named that way, and a
# link would turn "another initial on the same date" into a hit.
ROEPNAMEN: dict[str, tuple[str, ...]] = {
    # men
    "johannes": ("jan", "johan", "hans", "jo", "joop", "jannes", "hannes", "john", "jean", "han"),
    "petrus": ("piet", "peter", "pieter", "pierre", "pe", "piete"),
    "cornelis": ("kees", "cor", "cees", "corry", "nelis"),
    "hendrik": ("henk", "henny", "hennie", "hein", "rik", "harrie", "harry", "driek"),
    "gerardus": ("gerard", "gert", "gerrit", "ger", "gerry", "sjra", "gerd"),
    "wilhelmus": ("wim", "willem", "pim", "willy", "wil", "wiel"),
    "adrianus": ("arie", "ad", "adrie", "janus", "aad", "adri", "arjan"),
    "jacobus": ("jaap", "koos", "sjaak", "co", "coos", "jaak", "kobus"),
    "theodorus": ("theo", "ruud", "dorus", "door"),
    "antonius": ("anton", "toon", "ton", "teun", "tony", "antoon", "twan", "tonnie"),
    "franciscus": ("frans", "frank", "cis", "sjef", "francis"),
    "josephus": ("joseph", "joop", "sjef", "jos", "jo", "joost"),
    "hubertus": ("huub", "bert", "huib", "hub", "berry"),
    "lambertus": ("bert", "lambert"),
    "albertus": ("bert", "albert", "ab", "appie"),
    "engelbertus": ("bert", "engel"),
    "hermanus": ("herman", "manus", "harm"),
    "arnoldus": ("arnold", "arno", "noud", "nol", "arnout"),
    "leonardus": ("leo", "leon", "leendert", "leen", "nard"),
    "bernardus": ("ben", "benno", "bernard", "bennie", "bernd", "barend", "nard"),
    "marinus": ("rinus", "rien", "marien"),
    "martinus": ("martin", "tinus", "tijn", "maarten"),
    "nicolaas": ("klaas", "niek", "nico", "claas"),
    "christiaan": ("chris", "christian", "krijn"),
    "everardus": ("evert", "eef"),
    "dirk": ("dick", "dik"),
    "godefridus": ("frits", "fried", "friedus"),
    "fredericus": ("frits", "freek", "fred", "frederik"),
    "mattheus": ("matthijs", "mathijs", "teus"),
    "aloysius": ("louis", "wies", "loek"),
    "ludovicus": ("louis", "lodewijk", "loek", "lou"),
    "carolus": ("karel", "charles", "carel"),
    "walterus": ("wouter", "walter"),
    "rudolphus": ("ruud", "rudolf", "roel", "dolf"),
    "rutgerus": ("ruud", "rutger"),
    "bartholomeus": ("bart", "mees", "bartel"),
    "hieronymus": ("jeroen",),
    "stephanus": ("stefan", "steven", "stef"),
    "gijsbertus": ("gijs", "bert"),
    "augustinus": ("guus", "gus"),
    "eduardus": ("eduard", "ed", "eddy", "edo"),
    # women
    "maria": ("marie", "mies", "mia", "ria", "rie", "marietje", "mieke", "marieke", "miep"),
    "johanna": ("jo", "hanna", "hanneke", "joke", "jans", "jannie", "janny", "hannie"),
    "wilhelmina": ("mien", "mina", "willy", "wil", "miep", "wilma", "helmi", "willie"),
    "cornelia": ("nel", "cor", "corrie", "neeltje", "nelleke", "nelly", "cokkie", "cootje"),
    "catharina": (
        "toos", "karin", "tiny", "trijn", "trijntje", "katrien", "kitty", "riet", "rina", "ineke",
        "katja", "cato", "kaatje", "trien", "tineke", "carin", "karina",
    ),
    "elisabeth": (
        "els", "bep", "betty", "lies", "liesbeth", "betje", "elly", "ellie", "liesje",
        "beth", "bets", "elsje", "elsbeth", "betsy",
    ),
    "geertruida": ("truus", "truida", "geertje", "trudy", "trui", "gertrude"),
    "hendrika": ("riek", "rika", "henny", "jet", "hennie", "dika", "rieky"),
    "petronella": ("nel", "nelleke", "pietje", "nelly", "pieta", "pleun"),
    "adriana": ("jaantje", "ria", "adrie", "sjaan", "jana", "adri", "janna"),
    "jacoba": ("coba", "co", "koosje", "cobi", "coby"),
    "antonia": ("toos", "toni", "tonnie", "teuntje", "tonny", "toontje"),
    "theodora": ("dora", "door", "toos", "dorien", "thea", "doortje"),
    "gerarda": ("gerda", "gerrie", "gerry", "dinie", "gerdina"),
    "alida": ("aaltje", "lida", "alie", "aly", "lidy"),
    "aleida": ("leida", "alie"),
    "helena": ("lena", "leni", "heleen", "nel", "lenie", "lenny", "leentje", "hella"),
    "magdalena": ("lena", "leni", "lenie", "magda", "leny"),
    "margaretha": ("greet", "grietje", "margriet", "marga", "gre", "margo", "greetje", "gretha"),
    "josephina": ("fien", "joke", "josje", "fientje", "josien", "josefien", "pien"),
    "francisca": ("cis", "sjaan", "francien", "cisca"),
    "anna": ("ans", "annie", "anneke", "anke", "antje", "ankie"),
    "susanna": ("suus", "suze", "sanneke", "suzanne"),
    "jannetje": ("janny", "jans", "jannie", "jantje"),
    "hermina": ("mien", "mina", "herma", "miny"),
    "jacomina": ("mien", "mina", "coba", "miny"),
    "engelina": ("lien", "lina"),
    "paulina": ("pauline", "lien", "polly"),
    "carolina": ("lien", "lina", "carla", "karla", "lientje"),
    "christina": ("stien", "christien", "stina"),
    "clasina": ("sina", "sien", "claske"),
    "dorothea": ("dora", "thea", "doortje", "dorien"),
}

# Transliteration families of Arabic, Berber, Turkish and Persian given names: one common
# spelling -> other Latin spellings in Dutch use. Rules in identity.py catch more (ou/oe/u,
# kh/h, dj/j, y/j/i, doubled letters); the table catches what rules cannot (Fatma/Fadma).
TRANSLIT_NAMES: dict[str, tuple[str, ...]] = {
    "mohamed": (
        "mohammed", "muhammad", "muhammed", "mohammad", "mohamad", "mohamet", "mouhamed",
        "mohamud", "muhamed", "mhamed", "mouhammed",
    ),
    "mehmet": ("mehmed", "mehmat"),
    "ahmed": ("ahmad", "achmed", "achmad", "ahmet", "ahmat", "ahmeed", "hmed"),
    "mahmoud": ("mahmud", "mahmut", "machmoud", "mahmood"),
    "youssef": (
        "yusuf", "yousef", "youssouf", "yussuf", "joesoef", "joessef", "jusuf", "yousif",
        "youssif", "yousuf", "yusef", "joessouf", "youcef", "yossef", "jussuf", "yousseff",
    ),
    "mustafa": ("moestafa", "mustapha", "mostafa", "moustafa", "mostapha", "moustapha", "mustafah"),
    "khadija": (
        "khadidja", "hadija", "khadiga", "khadijah", "kadija", "chadia", "chadija", "hatice",
        "khadiedja", "hadidja", "khadiya", "hadice", "chadidja", "khedija",
    ),
    "fatima": ("fatma", "fadma", "fatema", "fatime", "fatimah", "fatiema", "fatimeh", "fadima"),
    "soufiane": (
        "sofiane", "sufyan", "soufian", "sofian", "sufian", "sofyan", "soefian", "soufyan",
        "sufiyan", "soefyan", "sofjan",
    ),
    "zeynep": ("zeinep", "zaynab", "zeinab", "zainab", "zeynab", "zejnep", "zineb", "zaineb"),
    "nadia": ("nadja", "nadya", "nadiya", "nadiyah"),
    "anouar": ("anwar", "anuar", "anoir", "anoear", "enver", "anwer"),
    "karim": ("kareem", "kerim", "kariem", "karem"),
    "said": ("saeed", "saied", "saiid", "sayed", "sayid"),
    "ayse": ("aysha", "aisha", "aicha", "aischa", "ayesha", "aysa", "aiša", "ayshe", "aische"),
    "hassan": ("hasan", "hassane", "hasane", "hacene"),
    "hussein": (
        "husein", "hoessein", "huseyin", "hossein", "houssein", "hussain", "hoesein", "husseyin",
    ),
    "ibrahim": ("brahim", "ebrahim", "ibrahiem", "ibrahima", "ibrahime"),
    "ismail": ("ismael", "esmail", "smail", "ismahil", "ismaiel"),
    "abdullah": ("abdallah", "abdellah", "abdulla", "abdoullah", "abdollah"),
    "abdelkader": ("abdulkadir", "abdelkadir", "abdelqader", "abdulkader"),
    "omar": ("umar", "oemar", "omer", "oumar", "ömer"),
    "osman": ("othman", "uthman", "otman", "outhman", "oethman", "usman", "osmane"),
    "yassin": ("yassine", "yasin", "jassin", "yacine", "yassien", "jasin", "yasine"),
    "ilias": ("ilyas", "iliass", "ilyass", "elyas"),
    "hamza": ("hamsa", "hamzah"),
    "rachid": ("rashid", "rasheed", "rachied", "rasit", "resit", "rasid"),
    "noureddine": ("nordin", "nourdin", "noredine", "nouredine", "noerdin", "nurettin", "nourdine"),
    "idris": ("idriss", "driss", "idrees", "idrisse"),
    "khalid": ("khaled", "chalid", "halid", "chaled", "khaalid", "halit"),
    "jamal": ("djamal", "gamal", "jamel", "djamel", "cemal"),
    "malika": ("malikah", "maliqa", "melike"),
    "naima": ("nayma", "naeema", "naeima", "naiema"),
    "samira": ("sameera", "samiera", "semira"),
    "latifa": ("latefa", "latiefa", "letifa"),
    "habiba": ("habibah", "habieba"),
    "meryem": ("maryam", "mariam", "meriem", "meryam", "mariame"),
    "emine": ("amina", "aminah", "emina"),
    "zehra": ("zahra", "zohra", "zehre"),
    "suleyman": ("soliman", "sulayman", "suleiman", "sleiman", "soulaimane", "souleymane"),
    "salim": ("selim", "saliem", "slim"),
    "yahya": ("yahia", "yahiya", "jahja", "yehia"),
    "younes": ("yunus", "younis", "yunes", "joenes", "younus"),
    "ayoub": ("ayub", "ajoeb", "eyup", "ayyoub", "eyub"),
    "hicham": ("hisham", "hisam", "hichame"),
    "bilal": ("bilel", "belal"),
    "hakim": ("hakiem", "hakeem", "hekim"),
    "aziz": ("aziez", "azize"),
    "tarik": ("tariq", "tarek", "tarak", "tarieq"),
    "walid": ("waleed", "oualid", "walied", "velid"),
    "zakaria": ("zakariya", "zakariae", "zakarya", "zakariyya", "zekeriya"),
    "ozge": ("oezge",),
}
