// TOML budgets, read with toml++ (Debian's libtomlplusplus-dev) and handed to the same checks as JSON
// budgets, with the line of every value so that an error names it. toml++ is used with exceptions
// (TOML_EXCEPTIONS=1, as Debian's shared library is built: it exports only the toml::ex parser); the
// one call that throws is caught here and becomes a Result.
#include "analysis/budget.h"
#include "analysis/budget_document.h"
#include "analysis/json_io.h"

#include <toml++/toml.h>

#include <algorithm>
#include <exception>
#include <vector>

namespace tidemark::analysis {

using nlohmann::json;

namespace {

    // toml++ nests tables as deep as a dotted key or header is long and frees them recursively, so a
    // key of 100 000 parts overflows the stack inside it. Arrays and inline tables it bounds itself
    // (TOML_MAX_NESTED_VALUES); keys fit on one line, so a bound on the dots per line bounds the rest.
    constexpr int kMaxDotsPerLine = 16;

    // The first line with more than kMaxDotsPerLine dots outside strings and comments, or 0.
    int lineWithTooManyDots(std::string_view text)
    {
        enum class In { Code, Comment, Basic, Literal, MultiBasic, MultiLiteral } in = In::Code;
        int line = 1, dots = 0;
        auto at = [&](size_t i, const char* s) { return text.substr(i, 3) == s; };
        for (size_t i = 0; i < text.size(); ++i) {
            char c = text[i];
            if (c == '\n') {
                ++line;
                dots = 0;
                if (in == In::Comment || in == In::Basic || in == In::Literal)
                    in = In::Code;
                continue;
            }
            switch (in) {
            case In::Comment:
                break;
            case In::Basic:
            case In::MultiBasic:
                if (c == '\\')
                    ++i;
                else if (in == In::MultiBasic ? at(i, "\"\"\"") : c == '"') {
                    i += in == In::MultiBasic ? 2 : 0;
                    in = In::Code;
                }
                break;
            case In::Literal:
            case In::MultiLiteral:
                if (in == In::MultiLiteral ? at(i, "'''") : c == '\'') {
                    i += in == In::MultiLiteral ? 2 : 0;
                    in = In::Code;
                }
                break;
            case In::Code:
                if (c == '#')
                    in = In::Comment;
                else if (c == '"' || c == '\'') {
                    bool multi = at(i, c == '"' ? "\"\"\"" : "'''");
                    in = c == '"' ? (multi ? In::MultiBasic : In::Basic) : (multi ? In::MultiLiteral : In::Literal);
                    i += multi ? 2 : 0;
                } else if (c == '.' && ++dots > kMaxDotsPerLine)
                    return line;
                break;
            }
        }
        return 0;
    }

    std::string pointerPart(const std::string& key)
    {
        std::string out;
        for (char c : key)
            out += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
        return out;
    }

    // A copy of a TOML value as JSON, noting the line of each part under its JSON pointer. Dates and
    // times become null: no budget value is one, and the checks then say what the key needs.
    bool toJson(const toml::node& node, const std::string& pointer, int depth, BudgetLines& lines, json& out)
    {
        if (depth > kMaxJsonDepth)
            return false;
        lines[pointer] = static_cast<int>(node.source().begin.line);
        if (const auto* t = node.as_table()) {
            out = json::object();
            for (const auto& [key, value] : *t) {
                std::string name(key.str());
                if (!toJson(value, pointer + "/" + pointerPart(name), depth + 1, lines, out[name]))
                    return false;
            }
        } else if (const auto* a = node.as_array()) {
            out = json::array();
            for (size_t i = 0; i < a->size(); ++i)
                if (!toJson((*a)[i], pointer + "/" + std::to_string(i), depth + 1, lines, out.emplace_back()))
                    return false;
        } else if (const auto* s = node.as_string()) {
            out = s->get();
        } else if (const auto* n = node.as_integer()) {
            out = n->get();
        } else if (const auto* f = node.as_floating_point()) {
            out = f->get();
        } else if (const auto* b = node.as_boolean()) {
            out = b->get();
        } else {
            out = nullptr;
        }
        return true;
    }

    // toml++'s description of a parse error as one line after "FILE:LINE:COLUMN: ". A redefinition
    // ("cannot redefine existing table 'tolerance'") says first what it means: the name is defined twice.
    std::string parseErrorMessage(const toml::parse_error& e, const std::string& origin)
    {
        std::string what(e.description());
        std::replace(what.begin(), what.end(), '\n', ' ');
        if (what.rfind("Error while parsing ", 0) == 0)
            what[0] = 'e';
        std::string where = origin + ":" + std::to_string(e.source().begin.line) + ":"
            + std::to_string(e.source().begin.column) + ": ";
        size_t redefine = what.find("cannot redefine existing ");
        size_t open = redefine == std::string::npos ? redefine : what.find('\'', redefine);
        size_t close = open == std::string::npos ? open : what.find('\'', open + 1);
        if (close != std::string::npos)
            return where + what.substr(open, close - open + 1) + " defined twice (" + what.substr(redefine) + ")";
        return where + what;
    }

    // The tables a budget may have at its top: [tolerance], [[rules]] and its old spelling [[rule]].
    Result<bool> checkTopLevel(const toml::table& doc, const std::string& origin)
    {
        for (const auto& [key, value] : doc) {
            bool table = value.is_table() || value.is_array_of_tables();
            if (!table || key == "tolerance" || key == "rules" || key == "rule")
                continue;
            return makeError(ErrorCode::Unsupported,
                origin + ":" + std::to_string(value.source().begin.line) + ": table [" + std::string(key.str())
                    + "] is not part of a tidemark budget",
                "tables: [tolerance] and [[rules]]");
        }
        const toml::node* rule = doc.get("rule");
        const toml::node* rules = doc.get("rules");
        if (rule && rules && rule->is_array() && !rules->is_array())
            return makeError(ErrorCode::Usage,
                origin + ":" + std::to_string(std::max(rule->source().begin.line, rules->source().begin.line))
                    + ": 'rules' defined twice (a key 'rules' and [[rule]] tables)");
        return true;
    }

    // The document as JSON. [[rule]] tables (an old spelling) join the [[rules]] ones under "rules",
    // in the order they appear in the file.
    bool documentToJson(const toml::table& doc, BudgetLines& lines, json& out)
    {
        out = json::object();
        lines[""] = 1;
        const toml::array* rule = doc.get_as<toml::array>("rule");
        const toml::array* rules = doc.get_as<toml::array>("rules");
        for (const auto& [key, value] : doc) {
            std::string name(key.str());
            bool merged = (name == "rule" && rule) || (name == "rules" && rules);
            if (!merged && !toJson(value, "/" + pointerPart(name), 1, lines, out[name]))
                return false;
        }
        if (!rule && !rules)
            return true;
        std::vector<const toml::node*> tables;
        for (const toml::array* list : { rules, rule })
            if (list)
                for (const auto& r : *list)
                    tables.push_back(&r);
        std::stable_sort(tables.begin(), tables.end(),
            [](const toml::node* a, const toml::node* b) { return a->source().begin.line < b->source().begin.line; });
        lines["/rules"] = static_cast<int>((rules ? rules : rule)->source().begin.line);
        json& list = out["rules"] = json::array();
        for (size_t i = 0; i < tables.size(); ++i)
            if (!toJson(*tables[i], "/rules/" + std::to_string(i), 2, lines, list.emplace_back()))
                return false;
        return true;
    }

} // namespace

Result<CheckConfig> parseBudgetToml(const std::string& text, const std::string& origin)
{
    if (int line = lineWithTooManyDots(text))
        return makeError(ErrorCode::Unsupported,
            origin + ":" + std::to_string(line) + ": more than " + std::to_string(kMaxDotsPerLine)
                + " dots in one line (no budget key is nested that deep)");
    try {
        toml::table doc = toml::parse(text, std::string_view(origin));
        auto top = checkTopLevel(doc, origin);
        if (!top)
            return top.error();
        BudgetLines lines;
        json converted;
        if (!documentToJson(doc, lines, converted))
            return makeError(
                ErrorCode::Unsupported, origin + ": nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
        return budgetFromDocument(converted, origin, &lines);
    } catch (const toml::parse_error& e) {
        return makeError(ErrorCode::Usage, parseErrorMessage(e, origin), "see docs/ci.md for the budget format");
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Io, origin + ": cannot read the budget (" + std::string(e.what()) + ")");
    }
}

} // namespace tidemark::analysis
