"""Every word the dashboard shows, in Kazakh, Russian and English, and how a duration is spoken."""

from __future__ import annotations

LANGS = ("kk", "ru", "en")
DEFAULT = "kk"

CATALOG: dict[str, dict[str, str]] = {
    "kk": {
        "availability": "Қолжетімділік", "uptime": "Жұмыс уақыты", "usage": "Пайдалану, күніне",
        "health": "Соңғы денсаулық есебі", "outbox": "Жіберілмеген хабарлар", "lesson": "Сабақ",
        "nav_fleet": "Сыныптар", "nav_alerts": "Ескертулер", "nav_inventory": "Құрылғылар",
        "login": "Кіру", "name": "Аты", "password": "Құпиясөз", "logout": "Шығу",
        "bad_login": "Аты немесе құпиясөз қате", "forbidden": "Бұл әрекетке рұқсатыңыз жоқ",
        "alerts_title": "Ескертулер", "open": "Ашық", "history": "Тарих", "severity": "Маңыздылығы",
        "since": "Басталғаны", "where": "Қайда", "message": "Хабар", "ack": "Растау", "note": "Ескертпе",
        "acked": "Расталды", "cleared": "Жабылды", "ago": "{duration} бұрын",
        "info": "ақпарат", "warning": "ескерту", "critical": "маңызды",
        "inventory_title": "Құрылғылар тізімі", "csv": "CSV жүктеу", "room": "Сынып", "device": "Құрылғы",
        "kind": "Түрі", "model": "Моделі", "serial": "Сериялық нөмірі", "last_seen": "Соңғы рет көрінді",
        "title": "Аудандағы сыныптар",
        "online": "желіде", "offline": "желіден тыс", "stale": "ескірген", "unknown": "әлі көрінбеген",
        "n_online": "желідегі сыныптар", "n_fault": "ақаулы құрылғылар", "n_alerts": "ашық ескертулер",
        "n_shown": "көрсетілген сыныптар",
        "state": "Күйі", "all": "барлығы", "school": "Мектеп", "show": "Көрсету",
        "language": "Тіл", "live": "тікелей", "reconnecting": "қайта қосылуда…",
        "new_alert": "Жаңа ескерту", "none": "Ештеңе табылмады",
        "for": "{state}, {duration}",
        "district": "Аудан", "unassigned": "Ауданы белгісіз", "search": "Мектепті іздеу", "sort": "Реттеу",
        "sort_name": "атауы бойынша", "sort_state": "күйі бойынша (нашары алдымен)",
        "sort_last_seen": "соңғы көрінуі бойынша (ескісі алдымен)",
        "uptime_7": "Жұмыс уақыты, 7 күн", "uptime_30": "Жұмыс уақыты, 30 күн",
        "lessons_week": "Аптасына сабақтар", "rooms": "Сыныптар", "open_alerts": "Ашық ескертулер",
        "csv_fields": "{line}-жол: site,district,name үш өрісі керек, {got} өріс бар",
        "csv_site": "{line}-жол: мектеп коды 1–128 таңба болуы керек",
        "csv_long": "{line}-жол: аудан мен атау 200 таңбадан аспауы керек",
        "csv_twice": "{line}-жол: {site} мектебі екі рет жазылған",
        "err_site": "Мектеп коды 1–128 таңба болуы керек", "err_long": "Аудан мен атау 200 таңбадан аспауы керек",
        "nav_accounts": "Тіркелгілер", "nav_schools": "Мектептер тізілімі", "nav_provision": "Сыныпты қосу",
        "accounts_title": "Тіркелгілер", "schools_title": "Мектептер тізілімі",
        "provision_title": "Сыныпты брокерге қосу",
        "role": "Рөлі", "viewer": "көруші", "engineer": "инженер", "admin": "әкімші",
        "created": "Құрылған", "active": "белсенді", "disabled": "өшірілген", "create": "Құру",
        "set_role": "Рөлді өзгерту", "disable": "Өшіру", "reset_password": "Жаңа құпиясөз",
        "new_account": "Жаңа тіркелгі", "password_blank": "бос қалса, жасалады",
        "password_once": "Құпиясөз бір рет қана көрсетіледі:",
        "err_name": "Аты 1–64 таңба болуы керек", "err_password": "Құпиясөз кемінде 8 таңба болуы керек",
        "err_exists": "Мұндай тіркелгі бар", "err_self": "Өз тіркелгіңізді өшіруге не рөлін өзгертуге болмайды",
        "err_missing": "Мұндай тіркелгі жоқ", "saved": "Сақталды",
        "site": "Мектеп коды", "save": "Сақтау", "delete": "Жою", "import_csv": "CSV файлдан жүктеу",
        "csv_file": "Файл (site,district,name)", "not_imported": "Файл жүктелмеді:",
        "imported": "Жүктелген мектептер", "unregistered": "Тізілімде жоқ мектептер",
        "provision": "Қосу", "provision_once": "Сыныптың classroomd.toml файлына қойыңыз. Құпиясөз бір рет "
        "қана көрсетіледі; қайта қосу жаңасын жасайды.",
        "provision_conf": "mosquitto.conf файлына бір рет қосып, Mosquitto-ны қайта жүктеңіз:",
        "download": "Жүктеп алу", "not_set_up": "Қосу бапталмаған: [central] бөлімінде provision_dir беріңіз.",
        "err_segment": "Мектеп пен сынып: 1–128 таңба, бос орынсыз, ':', '/', '#', '+' таңбаларынсыз",
        "err_broker": "Брокердің құпиясөз файлы жазылмады",
        "d": "күн", "h": "сағ", "min": "мин", "s": "с",
    },
    "ru": {
        "availability": "Доступность", "uptime": "Время работы", "usage": "Использование по дням",
        "health": "Последний отчёт о состоянии", "outbox": "Неотправленные сообщения", "lesson": "Урок",
        "nav_fleet": "Классы", "nav_alerts": "Тревоги", "nav_inventory": "Устройства",
        "login": "Войти", "name": "Имя", "password": "Пароль", "logout": "Выйти",
        "bad_login": "Неверное имя или пароль", "forbidden": "У вас нет прав на это действие",
        "alerts_title": "Тревоги", "open": "Открытые", "history": "История", "severity": "Важность",
        "since": "Начало", "where": "Где", "message": "Сообщение", "ack": "Подтвердить", "note": "Примечание",
        "acked": "Подтверждено", "cleared": "Закрыто", "ago": "{duration} назад",
        "info": "информация", "warning": "предупреждение", "critical": "критично",
        "inventory_title": "Список устройств", "csv": "Скачать CSV", "room": "Класс", "device": "Устройство",
        "kind": "Тип", "model": "Модель", "serial": "Серийный номер", "last_seen": "Последний раз виден",
        "title": "Классы района",
        "online": "в сети", "offline": "не в сети", "stale": "устарело", "unknown": "ещё не виден",
        "n_online": "классов в сети", "n_fault": "устройств с неисправностью", "n_alerts": "открытых тревог",
        "n_shown": "показано классов",
        "state": "Состояние", "all": "все", "school": "Школа", "show": "Показать",
        "language": "Язык", "live": "в реальном времени", "reconnecting": "переподключение…",
        "new_alert": "Новая тревога", "none": "Ничего не найдено",
        "for": "{state}, {duration}",
        "district": "Район", "unassigned": "Район не указан", "search": "Поиск школы", "sort": "Порядок",
        "sort_name": "по названию", "sort_state": "по состоянию (худшие сначала)",
        "sort_last_seen": "по последнему появлению (давние сначала)",
        "uptime_7": "Время работы, 7 дней", "uptime_30": "Время работы, 30 дней",
        "lessons_week": "Уроков в неделю", "rooms": "Классы", "open_alerts": "Открытые тревоги",
        "csv_fields": "строка {line}: нужно 3 поля site,district,name, а их {got}",
        "csv_site": "строка {line}: код школы должен быть от 1 до 128 символов",
        "csv_long": "строка {line}: район и название не длиннее 200 символов",
        "csv_twice": "строка {line}: школа {site} указана дважды",
        "err_site": "Код школы должен быть от 1 до 128 символов",
        "err_long": "Район и название не длиннее 200 символов",
        "nav_accounts": "Учётные записи", "nav_schools": "Реестр школ", "nav_provision": "Подключить класс",
        "accounts_title": "Учётные записи", "schools_title": "Реестр школ",
        "provision_title": "Подключение класса к брокеру",
        "role": "Роль", "viewer": "наблюдатель", "engineer": "инженер", "admin": "администратор",
        "created": "Создана", "active": "активна", "disabled": "отключена", "create": "Создать",
        "set_role": "Сменить роль", "disable": "Отключить", "reset_password": "Новый пароль",
        "new_account": "Новая учётная запись", "password_blank": "если пусто, будет создан",
        "password_once": "Пароль показывается только один раз:",
        "err_name": "Имя должно быть от 1 до 64 символов", "err_password": "Пароль не короче 8 символов",
        "err_exists": "Такая учётная запись уже есть",
        "err_self": "Нельзя отключить свою учётную запись или сменить её роль",
        "err_missing": "Такой учётной записи нет", "saved": "Сохранено",
        "site": "Код школы", "save": "Сохранить", "delete": "Удалить", "import_csv": "Загрузить из CSV",
        "csv_file": "Файл (site,district,name)", "not_imported": "Файл не загружен:",
        "imported": "Загружено школ", "unregistered": "Школы не из реестра",
        "provision": "Подключить", "provision_once": "Вставьте в classroomd.toml класса. Пароль показывается "
        "только один раз; повторное подключение создаёт новый.",
        "provision_conf": "Добавьте один раз в mosquitto.conf и перезагрузите Mosquitto:",
        "download": "Скачать", "not_set_up": "Подключение не настроено: задайте provision_dir в разделе [central].",
        "err_segment": "Школа и класс: от 1 до 128 символов, без пробелов и символов ':', '/', '#', '+'",
        "err_broker": "Не удалось записать файл паролей брокера",
        "d": "д", "h": "ч", "min": "мин", "s": "с",
    },
    "en": {
        "availability": "Availability", "uptime": "Uptime", "usage": "Use per day",
        "health": "Last health report", "outbox": "Messages waiting", "lesson": "Lesson",
        "nav_fleet": "Classrooms", "nav_alerts": "Alerts", "nav_inventory": "Devices",
        "login": "Sign in", "name": "Name", "password": "Password", "logout": "Sign out",
        "bad_login": "Wrong name or password", "forbidden": "You may not do this",
        "alerts_title": "Alerts", "open": "Open", "history": "History", "severity": "Severity",
        "since": "Since", "where": "Where", "message": "Message", "ack": "Acknowledge", "note": "Note",
        "acked": "Acknowledged", "cleared": "Cleared", "ago": "{duration} ago",
        "info": "info", "warning": "warning", "critical": "critical",
        "inventory_title": "Device inventory", "csv": "Download CSV", "room": "Classroom", "device": "Device",
        "kind": "Kind", "model": "Model", "serial": "Serial number", "last_seen": "Last seen",
        "title": "District classrooms",
        "online": "online", "offline": "offline", "stale": "stale", "unknown": "never seen",
        "n_online": "classrooms online", "n_fault": "devices in fault", "n_alerts": "open alerts",
        "n_shown": "classrooms shown",
        "state": "State", "all": "all", "school": "School", "show": "Show",
        "language": "Language", "live": "live", "reconnecting": "reconnecting…",
        "new_alert": "New alert", "none": "Nothing found",
        "for": "{state}, {duration}",
        "district": "District", "unassigned": "No district", "search": "Find a school", "sort": "Order",
        "sort_name": "by name", "sort_state": "by state (worst first)",
        "sort_last_seen": "by last seen (longest silent first)",
        "uptime_7": "Uptime, 7 days", "uptime_30": "Uptime, 30 days",
        "lessons_week": "Lessons per week", "rooms": "Classrooms", "open_alerts": "Open alerts",
        "csv_fields": "line {line}: expected 3 fields site,district,name, got {got}",
        "csv_site": "line {line}: the site id must be 1 to 128 characters",
        "csv_long": "line {line}: district and name are at most 200 characters",
        "csv_twice": "line {line}: site {site} appears twice",
        "err_site": "The site id must be 1 to 128 characters",
        "err_long": "District and name are at most 200 characters",
        "nav_accounts": "Accounts", "nav_schools": "School registry", "nav_provision": "Add a classroom",
        "accounts_title": "Accounts", "schools_title": "School registry",
        "provision_title": "Add a classroom to the broker",
        "role": "Role", "viewer": "viewer", "engineer": "engineer", "admin": "admin",
        "created": "Created", "active": "active", "disabled": "disabled", "create": "Create",
        "set_role": "Change role", "disable": "Disable", "reset_password": "New password",
        "new_account": "New account", "password_blank": "left empty, one is made",
        "password_once": "The password, shown only this once:",
        "err_name": "The name must be 1 to 64 characters", "err_password": "The password must be at least 8 characters",
        "err_exists": "That account exists already",
        "err_self": "You cannot disable your own account or change its role",
        "err_missing": "No such account", "saved": "Saved",
        "site": "Site id", "save": "Save", "delete": "Delete", "import_csv": "Import a CSV file",
        "csv_file": "File (site,district,name)", "not_imported": "The file was not imported:",
        "imported": "Schools imported", "unregistered": "Sites not in the registry",
        "provision": "Add", "provision_once": "Paste into the classroom's classroomd.toml. The password is shown "
        "only this once; adding the classroom again makes a new one.",
        "provision_conf": "Add to mosquitto.conf once, then reload Mosquitto:",
        "download": "Download", "not_set_up": "Adding classrooms is not set up: set provision_dir in [central].",
        "err_segment": "Site and room: 1 to 128 characters, no spaces, ':', '/', '#' or '+'",
        "err_broker": "The broker's password file could not be written",
        "d": "d", "h": "h", "min": "min", "s": "s",
    },
}

#: the language names are written in their own language, so a reader finds theirs in any page
LANG_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def pick(lang: str | None) -> str:
    return lang if lang in LANGS else DEFAULT


def text(lang: str, key: str) -> str:
    return CATALOG[pick(lang)][key]


def duration(lang: str, seconds: float) -> str:
    """The two largest units only: "3 h 5 min" reads at a glance, seconds would not."""
    words = CATALOG[pick(lang)]
    left = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size} {words[unit]}")
            left %= size
        if len(parts) == 2:
            break
    return " ".join(parts)
