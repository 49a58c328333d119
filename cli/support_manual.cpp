// `tidemark help [--man] [COMMAND]` and `tidemark completion bash`: the man pages and the bash
// completion are rendered from each command's --help text (Command::help), so the three never
// disagree. The help texts follow one layout, which parseHelp() reads:
//
//   usage: tidemark NAME ...            synopsis; indented lines continue it, "tidemark ..." starts another
//   <paragraphs>                        description
//   options:                            a section: an unindented line of one or two words and ':'
//     -o, --output FILE   what it does  an item: two spaces, a term, two or more spaces, text;
//                         more text     deeper indentation continues the item
//   Exit codes: ...                     a paragraph that becomes the EXIT STATUS section
#include "cli/command.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace tidemark::cli {

namespace {

struct Item {
    std::string term;
    std::string text;
};

struct Block {
    enum Kind { Paragraph, Items, Literal } kind = Paragraph;
    std::string text;               // Paragraph
    std::vector<Item> items;        // Items
    std::vector<std::string> lines; // Literal
};

struct Section {
    std::string title; // "DESCRIPTION", "OPTIONS", ...
    std::vector<Block> blocks;
};

struct HelpDoc {
    std::vector<std::string> synopsis; // without "usage: "
    std::vector<Section> sections;
};

std::string trim(const std::string& s)
{
    auto b = s.find_first_not_of(' ');
    if (b == std::string::npos)
        return {};
    return s.substr(b, s.find_last_not_of(' ') - b + 1);
}

size_t indentOf(const std::string& s)
{
    auto b = s.find_first_not_of(' ');
    return b == std::string::npos ? s.size() : b;
}

std::string upper(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

// "options:" or "rules (SIZE: 512MiB, ...):": one or two words before any parenthesis, then ':'.
bool isHeading(const std::string& line, std::string& title, std::string& note)
{
    if (line.empty() || line[0] == ' ' || line.back() != ':')
        return false;
    std::string body = line.substr(0, line.size() - 1);
    auto paren = body.find(" (");
    std::string words = trim(paren == std::string::npos ? body : body.substr(0, paren));
    if (words.empty() || std::count(words.begin(), words.end(), ' ') > 1)
        return false;
    title = upper(words);
    note = paren == std::string::npos ? std::string() : trim(body.substr(paren + 1));
    return true;
}

// An item starts with a term at two spaces: an option ("-o, --output FILE") or one word ("chrome").
bool splitItem(const std::string& line, Item& item)
{
    if (indentOf(line) != 2)
        return false;
    std::string rest = line.substr(2);
    auto gap = rest.find("  ");
    std::string term = gap == std::string::npos ? rest : rest.substr(0, gap);
    if (term.empty() || (term[0] != '-' && term.find(' ') != std::string::npos))
        return false;
    item.term = term;
    item.text = gap == std::string::npos ? std::string() : trim(rest.substr(gap));
    return true;
}

HelpDoc parseHelp(const std::string& help)
{
    std::vector<std::string> lines;
    for (size_t at = 0; at < help.size();) {
        auto nl = help.find('\n', at);
        lines.push_back(help.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
        at = nl == std::string::npos ? help.size() : nl + 1;
    }
    HelpDoc doc;
    size_t i = 0;
    for (; i < lines.size() && !trim(lines[i]).empty(); ++i) {
        std::string t = trim(lines[i]);
        if (t.rfind("usage: ", 0) == 0)
            t = t.substr(7);
        if (doc.synopsis.empty() || t.rfind("tidemark ", 0) == 0)
            doc.synopsis.push_back(t);
        else
            doc.synopsis.back() += " " + t;
    }
    doc.sections.push_back({ "DESCRIPTION", {} });
    Block* open = nullptr; // the block that the next line may continue
    for (; i < lines.size(); ++i) {
        const std::string& line = lines[i];
        Section& sec = doc.sections.back();
        std::string title, note;
        Item item;
        if (trim(line).empty()) {
            open = nullptr;
        } else if (isHeading(line, title, note)) {
            doc.sections.push_back({ title, {} });
            open = nullptr;
            if (!note.empty())
                doc.sections.back().blocks.push_back({ Block::Paragraph, note, {}, {} });
        } else if (sec.title == "EXAMPLE" || sec.title == "EXAMPLES") {
            if (!open || open->kind != Block::Literal) {
                sec.blocks.push_back({ Block::Literal, {}, {}, {} });
                open = &sec.blocks.back();
            }
            open->lines.push_back(trim(line));
        } else if (line[0] != ' ' && (line.rfind("Exit codes:", 0) == 0 || line.rfind("exit codes:", 0) == 0)) {
            doc.sections.push_back({ "EXIT STATUS", { { Block::Paragraph, trim(line.substr(11)), {}, {} } } });
            open = &doc.sections.back().blocks.back();
        } else if (splitItem(line, item)) {
            if (!open || open->kind != Block::Items) {
                sec.blocks.push_back({ Block::Items, {}, {}, {} });
                open = &sec.blocks.back();
            }
            open->items.push_back(item);
        } else if (open && open->kind == Block::Items && indentOf(line) > 2) {
            auto& last = open->items.back();
            last.text += (last.text.empty() ? "" : " ") + trim(line);
        } else if (open && open->kind == Block::Paragraph) {
            open->text += " " + trim(line);
        } else {
            sec.blocks.push_back({ Block::Paragraph, trim(line), {}, {} });
            open = &sec.blocks.back();
        }
    }
    return doc;
}

// roff: backslashes and hyphens escaped; a line never starts with a control character.
std::string roffText(const std::string& s)
{
    std::string out;
    for (char c : s) {
        if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else
            out += c;
    }
    if (!out.empty() && (out[0] == '.' || out[0] == '\''))
        out = "\\&" + out;
    return out;
}

// "-o, --output FILE": options bold, their values italic.
std::string roffTerm(const std::string& term)
{
    std::string out;
    size_t at = 0;
    while (at < term.size()) {
        auto sp = term.find(' ', at);
        std::string word = term.substr(at, sp == std::string::npos ? std::string::npos : sp - at);
        bool comma = !word.empty() && word.back() == ',';
        if (comma)
            word.pop_back();
        if (!out.empty())
            out += " ";
        out += (word.rfind('-', 0) == 0 || out.empty() ? "\\fB" : "\\fI") + roffText(word) + "\\fR" + (comma ? "," : "");
        at = sp == std::string::npos ? term.size() : sp + 1;
    }
    return out;
}

void roffBlocks(std::string& out, const std::vector<Block>& blocks)
{
    for (const auto& b : blocks) {
        if (b.kind == Block::Paragraph) {
            out += ".PP\n" + roffText(b.text) + "\n";
        } else if (b.kind == Block::Items) {
            for (const auto& it : b.items)
                out += ".TP\n" + roffTerm(it.term) + "\n" + (it.text.empty() ? "" : roffText(it.text) + "\n");
        } else {
            out += ".PP\n.RS 4\n.nf\n";
            for (const auto& l : b.lines)
                out += roffText(l) + "\n";
            out += ".fi\n.RE\n";
        }
    }
}

std::string manHeader(const std::string& name, const std::string& summary)
{
    return ".\\\" Generated by 'tidemark help --man' from the --help text; do not edit.\n"
           ".TH "
        + upper(name) + " 1 \"\" \"tidemark " TIDEMARK_VERSION "\" \"tidemark manual\"\n.nh\n.ad l\n.SH NAME\n" + roffText(name) + " \\- "
        + roffText(summary) + "\n";
}

std::string manPage(const Command& c)
{
    HelpDoc doc = parseHelp(c.help ? c.help : "");
    std::string out = manHeader(std::string("tidemark-") + c.name, c.summary);
    out += ".SH SYNOPSIS\n.nf\n";
    for (const auto& s : doc.synopsis)
        out += roffText(s) + "\n";
    out += ".fi\n";
    for (const auto& sec : doc.sections) {
        if (sec.blocks.empty())
            continue;
        out += ".SH " + sec.title + "\n";
        roffBlocks(out, sec.blocks);
    }
    out += ".SH SEE ALSO\n\\fBtidemark\\fR(1)\n";
    return out;
}

std::string manPageOverview()
{
    std::string out = manHeader("tidemark", "GPU and host memory profiler for unmodified training programs");
    out += ".SH SYNOPSIS\n.nf\ntidemark \\fICOMMAND\\fR [\\fIoptions\\fR]\ntidemark \\fICOMMAND\\fR \\-\\-help\n.fi\n";
    out += ".SH DESCRIPTION\n.PP\n" + roffText(trim(std::regex_replace(std::string(kOverview), std::regex("\n"), " "))) + "\n";
    out += ".SH COMMANDS\n";
    for (const auto& c : commands())
        out += ".TP\n\\fBtidemark " + roffText(c.name) + "\\fR\n" + roffText(c.summary) + "; see \\fBtidemark\\-"
            + roffText(c.name) + "\\fR(1).\n";
    std::string codes = std::regex_replace(std::string(kExitCodes), std::regex("\n"), " ");
    out += ".SH EXIT STATUS\n.PP\n" + roffText(trim(codes.substr(codes.find(':') + 1))) + "\n";
    out += ".SH FILES\n.TP\n\\fI*.tmdb\\fR\na recording: one SQLite file (see the schema in the documentation)\n";
    out += ".SH SEE ALSO\n";
    std::string sep;
    for (const auto& c : commands()) {
        out += sep + "\\fBtidemark\\-" + roffText(c.name) + "\\fR(1)";
        sep = ",\n";
    }
    out += "\n";
    return out;
}

// The options of a command and, for those that take a value, the choices when the help lists them
// ("--format text|json|markdown" anywhere in the text).
struct OptionSpec {
    std::vector<std::string> flags;
    std::set<std::string> takesValue;
    std::map<std::string, std::vector<std::string>> choices;
};

OptionSpec optionSpec(const Command& c)
{
    OptionSpec spec;
    const std::string help = c.help ? c.help : "";
    HelpDoc doc = parseHelp(help);
    std::set<std::string> seen;
    static const std::regex flag("^-{1,2}[A-Za-z][A-Za-z0-9-]*$");
    for (const auto& sec : doc.sections)
        for (const auto& b : sec.blocks)
            for (const auto& it : b.items) {
                std::vector<std::string> words;
                for (size_t at = 0; at < it.term.size();) {
                    auto sp = it.term.find(' ', at);
                    words.push_back(it.term.substr(at, sp == std::string::npos ? std::string::npos : sp - at));
                    at = sp == std::string::npos ? it.term.size() : sp + 1;
                }
                std::vector<std::string> names;
                bool value = false;
                for (auto w : words) {
                    if (!w.empty() && w.back() == ',')
                        w.pop_back();
                    if (std::regex_match(w, flag))
                        names.push_back(w);
                    else if (!names.empty())
                        value = true;
                }
                for (const auto& n : names) {
                    if (seen.insert(n).second)
                        spec.flags.push_back(n);
                    if (value)
                        spec.takesValue.insert(n);
                }
            }
    static const std::regex listed("(--[A-Za-z][A-Za-z0-9-]*)[ =]([a-z0-9][a-z0-9-]*(\\|[a-z0-9][a-z0-9-]*)+)");
    for (std::sregex_iterator m(help.begin(), help.end(), listed), end; m != end; ++m) {
        std::string name = (*m)[1];
        if (!seen.count(name) || spec.choices.count(name))
            continue;
        std::vector<std::string> values;
        std::string list = (*m)[2];
        for (size_t at = 0; at <= list.size();) {
            auto bar = list.find('|', at);
            values.push_back(list.substr(at, bar == std::string::npos ? std::string::npos : bar - at));
            at = bar == std::string::npos ? list.size() + 1 : bar + 1;
        }
        spec.choices[name] = values;
        spec.takesValue.insert(name);
    }
    return spec;
}

std::string joined(const std::vector<std::string>& v)
{
    std::string out;
    for (const auto& s : v)
        out += (out.empty() ? "" : " ") + s;
    return out;
}

std::string bashCompletion()
{
    std::vector<std::string> names;
    for (const auto& c : commands())
        names.push_back(c.name);
    std::string out = "# bash completion for tidemark; generated by 'tidemark completion bash' from the --help texts.\n"
                      "_tidemark()\n{\n"
                      "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
                      "    COMPREPLY=()\n"
                      "    if ((COMP_CWORD == 1)); then\n"
                      "        COMPREPLY=($(compgen -W \""
        + joined(names) + " --help --version\" -- \"$cur\"))\n"
                          "        return\n    fi\n"
                          "    local opts='' i\n"
                          "    case ${COMP_WORDS[1]} in\n";
    for (const auto& c : commands()) {
        OptionSpec spec = optionSpec(c);
        out += "    " + std::string(c.name) + ")\n";
        if (std::string(c.name) == "record") {
            // Everything after the program belongs to the program: complete files and commands there.
            std::vector<std::string> valued(spec.takesValue.begin(), spec.takesValue.end());
            out += "        for ((i = 2; i < COMP_CWORD; i++)); do\n"
                   "            case ${COMP_WORDS[i]} in\n"
                   "            --) return ;;\n";
            if (!valued.empty()) {
                std::string alts;
                for (const auto& v : valued)
                    alts += (alts.empty() ? "" : "|") + v;
                out += "            " + alts + ") ((i++)) ;;\n";
            }
            out += "            -*) ;;\n"
                   "            *) return ;;\n"
                   "            esac\n"
                   "        done\n";
        }
        if (std::string(c.name) == "help")
            out += "        [[ $cur == -* ]] || { COMPREPLY=($(compgen -W \"" + joined(names) + "\" -- \"$cur\")); return; }\n";
        if (std::string(c.name) == "completion")
            out += "        [[ $cur == -* ]] || { COMPREPLY=($(compgen -W \"bash\" -- \"$cur\")); return; }\n";
        if (!spec.choices.empty()) {
            out += "        case $prev in\n";
            for (const auto& [name, values] : spec.choices)
                out += "        " + name + ") COMPREPLY=($(compgen -W \"" + joined(values) + "\" -- \"$cur\")); return ;;\n";
            out += "        esac\n";
        }
        out += "        opts=\"" + joined(spec.flags) + "\" ;;\n";
    }
    out += "    esac\n"
           "    if [[ $cur == -* ]]; then\n"
           "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
           "    fi\n"
           "}\n"
           "complete -o default -o bashdefault -F _tidemark tidemark\n";
    return out;
}

bool writeFile(const std::filesystem::path& path, const std::string& text)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    return static_cast<bool>(f.flush());
}

const char* const kHelpHelp = R"(usage: tidemark help [COMMAND]
       tidemark help --man [COMMAND]
       tidemark help --man-dir DIR

Prints the help of COMMAND (the same as 'tidemark COMMAND --help'), or the list of commands.
The man pages are made from the same text: --man prints the page of COMMAND (of tidemark itself
without one) as roff, for 'man -l -'; --man-dir writes tidemark.1 and tidemark-COMMAND.1 for every
command into DIR (the build does this for the installed pages).

options:
  --man          print a man page instead of the help text
  --man-dir DIR  write every man page into DIR
  -h, --help     show this help

example:
  tidemark help record
  tidemark help --man report | man -l -
)";

int runHelp(const std::vector<std::string>& args)
{
    bool man = false;
    std::string dir, name;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--man")
            man = true;
        else if (args[i] == "--man-dir") {
            if (i + 1 >= args.size())
                return fail("--man-dir needs a directory", "tidemark help --man-dir share/man/man1");
            dir = args[++i];
        } else if (args[i] == "-h" || args[i] == "--help") {
            std::fputs(kHelpHelp, stdout);
            return kExitOk;
        } else if (!args[i].empty() && args[i][0] == '-')
            return fail("unknown option " + args[i], "see: tidemark help --help");
        else if (name.empty())
            name = args[i];
        else
            return fail("help takes one command, not '" + args[i] + "' as well");
    }
    if (!dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec)
            return fail("cannot create " + dir + ": " + ec.message());
        bool ok = writeFile(std::filesystem::path(dir) / "tidemark.1", manPageOverview());
        for (const auto& c : commands())
            ok = ok && writeFile(std::filesystem::path(dir) / ("tidemark-" + std::string(c.name) + ".1"), manPage(c));
        return ok ? kExitOk : fail("cannot write the man pages into " + dir);
    }
    const Command* c = nullptr;
    if (!name.empty() && !(c = findCommand(name)))
        return fail("unknown command '" + name + "'", "run 'tidemark --help' for the list of commands");
    if (man) {
        std::string page = c ? manPage(*c) : manPageOverview();
        std::fwrite(page.data(), 1, page.size(), stdout);
    } else if (c) {
        std::fputs(c->help ? c->help : c->summary, stdout);
    } else {
        printUsage(stdout);
    }
    return kExitOk;
}

const char* const kCompletionHelp = R"(usage: tidemark completion bash [-o FILE]

Prints a bash completion script for tidemark: commands, each command's options, and the values of
options that take one of a few (--format, --unwind, ...); files elsewhere, and after the program
of 'record' whatever that program takes. The packages install it; the example uses it in this
shell only.

options:
  -o, --output FILE  write the script to FILE instead of stdout
  -h, --help         show this help

example:
  source <(tidemark completion bash)
)";

int runCompletion(const std::vector<std::string>& args)
{
    if (wantsHelp(args)) {
        std::fputs(kCompletionHelp, stdout);
        return kExitOk;
    }
    std::string shellName, output;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "-o" || args[i] == "--output") {
            if (i + 1 >= args.size())
                return fail(args[i] + " needs a file", "tidemark completion bash -o tidemark.bash");
            output = args[++i];
        } else if (args[i] == "bash" && shellName.empty()) {
            shellName = args[i];
        } else {
            return fail("completion takes one shell, bash, not '" + args[i] + "'", "source <(tidemark completion bash)");
        }
    }
    if (shellName.empty())
        return fail("completion needs a shell: bash", "source <(tidemark completion bash)");
    std::string script = bashCompletion();
    if (!output.empty())
        return writeFile(output, script) ? kExitOk : fail("cannot write " + output);
    std::fwrite(script.data(), 1, script.size(), stdout);
    return kExitOk;
}

Registration helpReg({ "help", "show a command's help, or its man page (--man)", runHelp, 940, kHelpHelp });
Registration completionReg({ "completion", "print the bash completion script", runCompletion, 950, kCompletionHelp });

} // namespace

} // namespace tidemark::cli
