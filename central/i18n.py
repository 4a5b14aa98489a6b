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
